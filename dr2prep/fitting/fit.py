"""The fitting algorithms: SMPLify-X on a reference frame, then the whole clip in one of three modes.

- `sequential` (the paper): frame after frame, each warm-started from the one
  before and tied to it by the motion loss.
- `window`: the frames of a window optimised together, each frame's motion term
  to its predecessor, the window's first frame tied to the last fitted frame.
- `per-frame`: plain SMPLify-X per frame (no warm start, no motion loss; shape and
  orientation still fixed), the baseline the benchmark compares against.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dr2prep.bodymodel.fast_forward import FastForward
from dr2prep.bodymodel.loading import BodyModel
from dr2prep.bodymodel.openpose_correspondence import BODY, NUM_KEYPOINTS
from dr2common.errors import Dr2Error
from dr2prep.fitting.camera import FACING_CAMERA, image_center
from dr2prep.fitting.objective import Objective, PriorWeights, from_translation
from dr2prep.fitting.settings import FIRST_FRAME_STAGES, FitSettings
from dr2prep.fitting.solver import (
    BlockTridiagonalSystem,
    ColouredJacobian,
    arrow_normal_equations,
    block_jacobians,
    jacobian_pattern,
    levenberg_marquardt,
)

from dr2prep.choices import FIT_MODES as MODES  # noqa: E402  (defined once, light for the CLI)
# BODY_25 points that place the camera: nose, shoulders, hips, eyes, ears (SMPLify-X uses the torso).
CAMERA_POINTS = (0, 2, 5, 9, 12, 15, 16, 17, 18)
SHOULDERS = (2, 5)  # BODY_25 RShoulder, LShoulder
SMPLX_SHOULDERS = (17, 16)  # SMPL-X right_shoulder, left_shoulder
SMPLX_NECK = 12
# The reference frames (camera, shape, first poses) stop at a tenth of the frames' tolerance
# (solver.RELATIVE_TOLERANCE): every frame starts from them, and on the demo's known poses 1e-3
# left the upper body 52 mm off against 44 mm at 1e-4, for ~2.4 s more CPU per clip.
REFERENCE_TOLERANCE = 1e-4


@dataclass
class ReferenceFit:
    """The reference frames' fit: the shape and orientation the whole clip keeps."""

    frames: np.ndarray  # (K,) frame indices, increasing
    betas: np.ndarray  # (10,)
    global_orient: np.ndarray  # (3,)
    x: np.ndarray  # (K, D) those frames' per-frame variables
    pixels_per_mm: float  # image scale at the body, for the data term of every frame


def choose_reference_frames(keypoints: np.ndarray, count: int) -> np.ndarray:
    """(K,) the best-detected frame (summed body confidence) of each of `count` equal parts of the clip.

    Frames spread over the clip show the speaker in different poses, which pins down the
    shape and orientation that one frame leaves ambiguous (depth against size and pitch).
    """
    confidence = keypoints[:, BODY, 2].sum(axis=1)
    if confidence.max() <= 0:
        raise Dr2Error("no body keypoints in any frame, so there is nothing to fit; check the keypoints stage")
    chosen = []
    for part in np.array_split(np.arange(len(keypoints)), min(count, len(keypoints))):
        best = part[np.argmax(confidence[part])]
        if confidence[best] > 0:
            chosen.append(int(best))
    return np.array(chosen)


def initial_translation(keypoints: np.ndarray, forward: FastForward, focal_length: float, center) -> np.ndarray:
    """Depth from shoulder width by similar triangles; x, y so that the neck lands between the shoulders."""
    rest = forward.rest_joints.detach().cpu().numpy().astype(np.float64)
    shoulder_3d = np.linalg.norm(rest[SMPLX_SHOULDERS[0]] - rest[SMPLX_SHOULDERS[1]])
    (right, left) = keypoints[list(SHOULDERS)]
    if min(right[2], left[2]) > 0:
        shoulder_px = max(np.linalg.norm(right[:2] - left[:2]), 1.0)
        target = (right[:2] + left[:2]) / 2
    else:  # no shoulders: fall back to the detected body's extent
        seen = keypoints[BODY][keypoints[BODY, 2] > 0]
        shoulder_px = max(np.ptp(seen[:, 0]) / 2, 1.0)
        target = seen[:, :2].mean(axis=0)
    depth = focal_length * shoulder_3d / shoulder_px
    neck_camera = np.array([*((target - np.asarray(center)) * depth / focal_length), depth])
    # smplx poses joints as R (J - J_pelvis) + J_pelvis + transl; FACING_CAMERA's R flips y and z.
    flip = np.array([1.0, -1.0, -1.0])
    return neck_camera - flip * (rest[SMPLX_NECK] - rest[0]) - rest[0]


def load_pose_prior(settings: FitSettings, device) -> torch.nn.Module | None:
    """VPoser v1.0 from settings.vposer (read without pickle), frozen, or None when not given."""
    if not settings.vposer:
        return None
    from dr2prep.bodymodel.vposer import load_vposer_v1

    return load_vposer_v1(Path(settings.vposer).expanduser()).to(device).requires_grad_(False)


def solve_with_shared(linearise, cost_fn, frames: torch.Tensor, shared: torch.Tensor, iterations: int,
                      project=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Levenberg-Marquardt on frames (K, P) that share variables (S,) (orientation, shape): a dense solve.

    linearise(frames, shared) returns the Gauss-Newton residual function there (robust weights
    frozen), as solver.block_jacobians takes it; cost_fn(frames, shared) the scalar loss;
    `project` maps frame variables into their bounds.
    """
    count, size = frames.shape
    rows = torch.arange(count, device=frames.device)

    def cost(point):
        with torch.no_grad():
            return float(cost_fn(*point))

    def system(point):
        at_frames, at_shared = point
        residual_fn = linearise(at_frames, at_shared)
        with torch.no_grad():
            residual = residual_fn(at_frames, at_shared.expand(count, -1), rows).double()
        return arrow_normal_equations(block_jacobians(residual_fn, at_frames, at_shared).double(), residual, size)

    def move(point, step, fraction):
        at_frames, at_shared = point
        step = fraction * step.to(at_frames.dtype)
        moved = at_frames + step[: count * size].reshape(count, size)
        return (moved if project is None else project(moved)), at_shared + step[count * size :]

    (frames, shared), _ = levenberg_marquardt(cost, system, move, (frames.detach().clone(), shared.detach().clone()),
                                              iterations, relative_tolerance=REFERENCE_TOLERANCE)
    return frames, shared


def fit_reference_frames(body: BodyModel, keypoints: np.ndarray, settings: FitSettings, image_size, device,
                         vposer: torch.nn.Module | None = None) -> ReferenceFit:
    """SMPLify-X on the reference frames together: camera (translations + orientation) from the
    torso, then annealed stages over all variables, one shape and orientation for all frames."""
    frames = choose_reference_frames(keypoints, settings.reference_frames)
    count = len(frames)
    forward = FastForward(body, None, device=device)
    center = image_center(image_size)
    transl = np.stack([initial_translation(keypoints[f], forward, settings.focal_length, center) for f in frames])
    pixels_per_mm = settings.focal_length / float(np.median(transl[:, 2])) / 1000.0
    objective = Objective(body, forward, settings.focal_length, center, settings.rho, pixels_per_mm, vposer)
    layout = objective.layout
    target = torch.as_tensor(keypoints[frames], dtype=torch.float32, device=device)
    size = layout.size
    transl_part = layout.slices["transl"]

    x = torch.zeros(count, size, device=device)
    x[:, transl_part] = torch.as_tensor(from_translation(transl), dtype=torch.float32, device=device)
    orient = torch.tensor(FACING_CAMERA, dtype=torch.float32, device=device)
    betas = torch.zeros(forward.num_betas, device=device)

    # Stage 0: the camera, from the torso and head points only, with the body at rest.
    camera_target = torch.zeros_like(target)
    camera_target[:, list(CAMERA_POINTS)] = target[:, list(CAMERA_POINTS)]
    camera_weights = FIRST_FRAME_STAGES[0]

    def with_translation(t, rows):
        full = x[rows].clone()
        full[:, transl_part] = t
        return full

    def camera_linearise(t_at, o_at):
        rows = torch.arange(count, device=device)
        robust = objective.robust_weights(with_translation(t_at, rows), camera_target, o_at[None])

        def residuals(t, o, rows):
            return objective.gauss_newton_residuals(with_translation(t, rows), camera_target[rows], o, camera_weights,
                                                    robust_weights=robust[rows])
        return residuals

    def camera_cost(t, o):
        rows = torch.arange(count, device=device)
        return objective.cost(with_translation(t, rows), camera_target, o[None], camera_weights).sum()

    t, orient = solve_with_shared(camera_linearise, camera_cost, x[:, transl_part], orient,
                                  settings.first_frame_iterations)
    x[:, transl_part] = t

    # Stages 1-4: everything, with annealed prior weights; shared = orientation (3) + betas.
    shared = torch.cat([orient, betas])
    for weights in FIRST_FRAME_STAGES:
        def linearise(x_at, shared_at, weights=weights):
            robust = objective.robust_weights(x_at, target, shared_at[None, :3], shared_at[None, 3:])

            def residuals(xs, sh, rows):
                return objective.gauss_newton_residuals(xs, target[rows], sh[:, :3], weights, sh[:, 3:], robust[rows])
            return residuals

        def cost(xs, sh, weights=weights):
            return objective.cost(xs, target, sh[None, :3], weights, sh[None, 3:]).sum()

        x, shared = solve_with_shared(linearise, cost, x, shared, settings.first_frame_iterations, layout.clamp)
    return ReferenceFit(frames, shared[3:].cpu().numpy(), shared[:3].cpu().numpy(), x.cpu().numpy(), pixels_per_mm)


def clip_objective(body: BodyModel, reference: ReferenceFit, settings: FitSettings, image_size, device,
                   vposer: torch.nn.Module | None = None) -> Objective:
    """The objective for the clip's frames: the reference's shape fixed in a fast forward pass."""
    forward = FastForward(body, reference.betas, device=device)
    return Objective(body, forward, settings.focal_length, image_center(image_size), settings.rho,
                     reference.pixels_per_mm, vposer)


@dataclass
class Chunk:
    """Fitted frames [start, start + len(x))."""

    start: int
    x: np.ndarray  # (n, D) per-frame variables
    loss: np.ndarray  # (n,) objective value per frame (with the motion loss in temporal modes)


class RunSolver:
    """A run of frames by solver.levenberg_marquardt, with per-frame Gauss-Newton Hessians.

    Each frame's Jacobian comes from a few forward differences (columns coloured by the
    kinematic tree's sparsity); the motion loss couples neighbours, so each step solves a
    block-tridiagonal system. The same solver serves the three modes: a window (n frames,
    coupled), one frame (sequential) or independent frames (per-frame, ω = 0).
    """

    def __init__(self, objective: Objective, orient: torch.Tensor, weights: PriorWeights):
        self.objective, self.orient, self.weights = objective, orient, weights
        ones = torch.ones(1, NUM_KEYPOINTS, 3, device=orient.device)

        def unweighted(p):
            return objective.gauss_newton_residuals(p, ones.expand(p.shape[0], -1, -1), orient, weights)

        self.jacobian = ColouredJacobian(jacobian_pattern(unweighted, objective.layout.size, orient.device), orient.device)

    def solve(self, keypoints: torch.Tensor, start: torch.Tensor, previous: torch.Tensor | None,
              motion_weight: float, translation_weight: float, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x (n, D) and per-frame loss (n,) for keypoints (n, 137, 3) from the warm start (n, D).

        `previous` (1, D) is the fitted frame before the run (its first frame's motion tie), or
        None when the run begins the clip or has no temporal terms.
        """
        objective, orient, weights = self.objective, self.orient, self.weights
        frames = start.shape[0]
        ratio = translation_weight / motion_weight if motion_weight > 0 else 0.0
        coupling = motion_weight * torch.as_tensor(objective.layout.motion_mask(ratio), dtype=torch.float64,
                                                   device=start.device)
        ties = torch.full((frames,), 2.0, dtype=torch.float64, device=start.device)  # neighbours each frame is tied to
        ties[-1] -= 1
        if previous is None:
            ties[0] -= 1

        def frame_losses(x):
            total = objective.cost(x, keypoints, orient, weights)
            if motion_weight > 0 and (previous is not None or frames > 1):
                before = torch.cat([x[:1] if previous is None else previous, x[:-1]], dim=0)  # the clip's frame 0: no tie
                total = total + objective.motion(x, before, motion_weight, translation_weight)
            return total

        def cost(x):
            with torch.no_grad():
                return float(frame_losses(x).sum())

        def system(x):
            robust = objective.robust_weights(x, keypoints, orient)

            def residual_fn(p):
                rows = torch.arange(p.shape[0], device=p.device) // (p.shape[0] // frames)
                return objective.gauss_newton_residuals(p, keypoints[rows], orient, weights, robust_weights=robust[rows])

            with torch.no_grad():
                residual = residual_fn(x)
            hessian = self.jacobian.gauss_newton_hessian(self.jacobian(residual_fn, x, residual))  # (n, D, D)
            variables = x.clone().requires_grad_(True)
            (total,) = torch.autograd.grad(frame_losses(variables).sum(), variables)
            gradient = 0.5 * total.double()  # the Gauss-Newton model is ½ the loss's curvature
            return BlockTridiagonalSystem(hessian + torch.diag_embed(ties[:, None] * coupling), coupling, gradient,
                                          scale=hessian.diagonal(dim1=1, dim2=2))

        def move(x, step, fraction):
            return objective.layout.clamp(x + fraction * step.to(x.dtype))

        x, _ = levenberg_marquardt(cost, system, move, objective.layout.clamp(start.detach()), iterations)
        with torch.no_grad():
            return x, frame_losses(x)


def shot_runs(start: int, end: int, step: int, cuts) -> list[tuple[int, int]]:
    """[s, e) runs of at most `step` frames covering [start, end), split at every cut so no run spans two shots."""
    bounds = sorted({*range(start, end, step), *(int(c) for c in cuts if start < int(c) < end), end})
    return list(zip(bounds[:-1], bounds[1:]))


def shot_start_x(objective: Objective, reference: ReferenceFit, keypoints: np.ndarray) -> np.ndarray:
    """(D,) where a shot after a cut starts: the reference pose, placed by this frame's own shoulders.

    The new shot may frame the speaker closer or further, so its translation comes from its
    first frame (as the reference frame's did), not from the shot before it.
    """
    x = np.array(reference.x[0], dtype=np.float64)
    if keypoints[BODY, 2].max() > 0:
        center = objective.center.detach().cpu().numpy()
        transl = initial_translation(keypoints, objective.forward, objective.focal_length, center)
        x[objective.layout.slices["transl"]] = from_translation(transl)
    return x


def fit_sequence(
    objective: Objective,
    keypoints: np.ndarray,
    reference: ReferenceFit,
    settings: FitSettings,
    device,
    start: int = 0,
    previous_x: np.ndarray | None = None,
    chunk_frames: int = 128,
    cuts=(),
    end: int | None = None,
) -> Iterator[Chunk]:
    """Fit frames start..end (default: to the clip's end) in chunks, yielding each finished chunk (for committing).

    Chunks and windows lie on one grid of the whole clip (multiples of `chunk_frames`, split
    at every cut), whatever `start` and `end` are: a fit resumed at a chunk's end, or shots
    fitted apart (`start` and `end` at cuts, stage.py's workers), gives what one pass gives.

    `previous_x` is the last fitted frame before `start` (None when start is 0: the clip's
    first frame has no predecessor and starts from the reference fit). `cuts` are the first
    frames of shots after the first: each shot is its own sequence, so its first frame has
    no predecessor either (no warm start from, no motion tie to, the other shot's last frame).
    Shape and orientation stay the clip's; translation is free per shot.
    """
    if settings.mode not in MODES:
        raise Dr2Error(f"unknown fitting mode {settings.mode!r}; use one of {', '.join(MODES)}")
    orient = torch.as_tensor(reference.global_orient[None], dtype=torch.float32, device=device)
    reference_x = torch.as_tensor(reference.x[:1], dtype=torch.float32, device=device)  # the earliest
    cuts = sorted({int(c) for c in cuts if 0 < int(c) < len(keypoints)})
    last = None if previous_x is None or start in cuts else torch.as_tensor(previous_x[None], dtype=torch.float32,
                                                                          device=device)
    weights = settings.final_weights
    temporal = settings.mode != "per-frame"
    motion_weight = settings.motion_weight if temporal else 0.0
    translation_weight = settings.translation_motion_weight if temporal else 0.0
    step = 1 if settings.mode == "sequential" else settings.window
    n_frames = len(keypoints)
    solver = RunSolver(objective, orient, weights)
    shot_first = [0] + cuts
    # Per shot: where its frames start without a predecessor. The first shot starts from the reference
    # fit as always, unless the reference frame lies in another shot (which may frame the speaker otherwise).
    shot_warm = {0: reference_x} if not cuts or int(reference.frames[0]) < cuts[0] else {}

    def warm_start(frame: int) -> torch.Tensor:
        first = shot_first[np.searchsorted(shot_first, frame, side="right") - 1]
        if first not in shot_warm:
            shot_warm[first] = torch.as_tensor(shot_start_x(objective, reference, keypoints[first])[None],
                                               dtype=torch.float32, device=device)
        return shot_warm[first]

    end = n_frames if end is None else min(end, n_frames)
    chunk_start = start
    while chunk_start < end:
        grid_start = chunk_start // chunk_frames * chunk_frames
        chunk_end = min(grid_start + chunk_frames, end)
        xs, chunk_losses = [], []
        for s, e in shot_runs(grid_start, chunk_end, step, cuts):
            if s < chunk_start:
                continue
            if s in cuts:
                last = None
            target = torch.as_tensor(keypoints[s:e], dtype=torch.float32, device=device)
            warm = warm_start(s) if (not temporal or last is None) else last
            x, loss = solver.solve(target, warm.expand(e - s, -1).clone(), last if temporal else None,
                                   motion_weight, translation_weight, settings.iterations)
            xs.append(x.cpu().numpy())
            chunk_losses.append(loss.cpu().numpy())
            last = x[-1:]
        yield Chunk(chunk_start, np.concatenate(xs), np.concatenate(chunk_losses))
        chunk_start = chunk_end
