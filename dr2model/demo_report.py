"""What the demo measures about itself: the fit against the poses it rendered, and how the samples look.

The demo's input is rendered from known SMPL-X poses, so its fit has a ground
truth. Every figure here is in the body's own terms (joints in millimetres,
the head's rotation chain), so it can be printed at the end of `dr2 demo`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from dr2prep.bodymodel import skeleton

PELVIS, SPINE3, NECK, HEAD = 0, 9, 12, 15
# spine3, neck, collars, head, shoulders, elbows, wrists, and the eyes (the head joint alone does not move
# when the head turns; the eyes do)
UPPER_BODY = (9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, skeleton.LEFT_EYE, skeleton.RIGHT_EYE)
WRISTS = (skeleton.LEFT_WRIST, skeleton.RIGHT_WRIST)
HEAD_CHAIN = (3, 6, 9, 12, 15)  # spine1, spine2, spine3, neck, head: the joints between the pelvis and the head
TOWARDS_CAMERA = np.array([0.0, 0.0, -1.0])  # camera space: the camera looks along +z
FACING_LIMIT_DEG = 20.0  # acceptance: the head's forward direction within this of the camera axis ...
FACING_SHARE = 0.9  # ... on at least this share of frames
MIN_SAMPLE_DISTANCE_MM = 30.0  # acceptance: two samples for the same speech differ at least this much
TRAVEL_RANGE = (0.5, 1.5)  # acceptance: the hands travel this share of the input's travel (arms in its range)


def _rotations(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (Rodrigues)."""
    from smplx.lbs import batch_rodrigues

    flat = torch.as_tensor(np.asarray(axis_angle, np.float64).reshape(-1, 3))
    return batch_rodrigues(flat).numpy().reshape(*np.shape(axis_angle)[:-1], 3, 3)


def head_forward(global_orient: np.ndarray, body_pose: np.ndarray) -> np.ndarray:
    """(T, 3) unit vectors: where the face points, in camera space.

    The head's global rotation is the product of the chain pelvis (global
    orientation) -> spine1 -> spine2 -> spine3 -> neck -> head; SMPL-X's rest
    face looks along its +z.
    """
    frames = len(body_pose)
    local = _rotations(np.asarray(body_pose, np.float64).reshape(frames, -1, 3))
    rotation = _rotations(np.asarray(global_orient, np.float64).reshape(frames, 3))
    for joint in HEAD_CHAIN:
        rotation = rotation @ local[:, joint - 1]
    return rotation[:, :, 2]


def head_angles(global_orient: np.ndarray, body_pose: np.ndarray) -> np.ndarray:
    """(T,) degrees between the face's forward direction and the direction to the camera."""
    cosine = np.clip(head_forward(global_orient, body_pose) @ TOWARDS_CAMERA, -1.0, 1.0)
    return np.degrees(np.arccos(cosine))


def body_joints(body, params: dict[str, np.ndarray]) -> np.ndarray:
    """(T, 55, 3) SMPL-X joints (metres, camera space) of per-frame parameters; betas (10,) or (T, 10)."""
    frames = len(params["body_pose"])
    layer = body.smplx_layer(batch_size=frames, face_contour=False)
    inputs = {key: torch.as_tensor(np.asarray(params[key], np.float32).reshape(frames, -1))
              for key in ("global_orient", "body_pose", "transl")}
    if "betas" in params:
        betas = np.asarray(params["betas"], np.float32)
        inputs["betas"] = torch.as_tensor(np.broadcast_to(betas.reshape(-1, betas.shape[-1]), (frames, betas.shape[-1]))
                                          .copy())
    with torch.no_grad():
        return layer(**inputs).joints[:, :skeleton.NUM_JOINTS].numpy()


def pelvis_relative(joints: np.ndarray) -> np.ndarray:
    """(T, 55, 3) joints with the pelvis moved to the origin (the fit's depth and the camera do not count)."""
    return joints - joints[:, PELVIS:PELVIS + 1]


def upper_body_mpjpe(fitted: np.ndarray, truth: np.ndarray) -> float:
    """Mean per-joint position error of the upper body (mm), pelvis-aligned, over frames and UPPER_BODY joints."""
    error = pelvis_relative(fitted)[:, UPPER_BODY] - pelvis_relative(truth)[:, UPPER_BODY]
    return float(np.linalg.norm(error, axis=-1).mean() * 1000)


def sample_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance (mm) between two samples' pelvis-aligned upper-body joints, over frames and joints."""
    return upper_body_mpjpe(a, b)


def wrist_extent(joints: np.ndarray) -> np.ndarray:
    """(2, 2) mm: the 5-95 percentile span of each wrist (left, right) across (x) and up-down (y), from the neck."""
    relative = joints[:, WRISTS, :2] - joints[:, NECK:NECK + 1, :2]
    return (np.percentile(relative, 95, axis=0) - np.percentile(relative, 5, axis=0)) * 1000


def wrist_height(joints: np.ndarray) -> np.ndarray:
    """(2, 2) mm: 5th and 95th percentile of each wrist's height below the neck (camera y points down)."""
    below = joints[:, WRISTS, 1] - joints[:, NECK:NECK + 1, 1]
    return np.percentile(below, [5, 95], axis=0).T * 1000


@dataclass
class BodyFigures:
    """How one sequence of bodies looks: facing, arm range."""

    name: str
    frames: int
    head_within_limit: float  # share of frames whose face points within FACING_LIMIT_DEG of the camera
    head_median_deg: float
    wrist_extent_mm: list  # [[left x, left y], [right x, right y]] 5-95 percentile spans
    wrist_below_neck_mm: list  # [[left p5, left p95], [right p5, right p95]]


def body_figures(name: str, params: dict[str, np.ndarray], joints: np.ndarray) -> BodyFigures:
    angles = head_angles(params["global_orient"], params["body_pose"])
    return BodyFigures(name, len(angles), float((angles <= FACING_LIMIT_DEG).mean()), float(np.median(angles)),
                       np.round(wrist_extent(joints)).tolist(), np.round(wrist_height(joints)).tolist())


@dataclass
class DemoReport:
    """The demo's own measurements; `lines()` prints them."""

    fit_mpjpe_mm: float  # fitted vs true upper body, pelvis-aligned
    sample_distance_mm: float | None  # between the first two samples
    bodies: list  # BodyFigures of the truth, the fit, each sample

    def travel_share(self, body: BodyFigures) -> float:
        """How far `body`'s wrists travel (the diagonal of their 5-95 percentile spans) relative to the input's."""
        return float(np.linalg.norm(body.wrist_extent_mm) / max(np.linalg.norm(self.bodies[0].wrist_extent_mm), 1.0))

    def passed(self) -> dict[str, bool]:
        """The acceptance checks: everyone faces the camera and moves the hands as far as the input; samples differ."""
        checks = {}
        for b in self.bodies[1:]:
            checks[f"{b.name} faces the camera"] = b.head_within_limit >= FACING_SHARE
            checks[f"{b.name} moves the hands in the input's range"] = (
                TRAVEL_RANGE[0] <= self.travel_share(b) <= TRAVEL_RANGE[1])
        if self.sample_distance_mm is not None:
            checks["samples differ"] = self.sample_distance_mm >= MIN_SAMPLE_DISTANCE_MM
        return checks

    def lines(self) -> list[str]:
        out = [f"fit vs the rendered poses: upper-body MPJPE {self.fit_mpjpe_mm:.0f} mm (pelvis-aligned)"]
        for b in self.bodies:
            (lx, ly), (rx, ry) = b.wrist_extent_mm
            out.append(f"{b.name}: head within {FACING_LIMIT_DEG:.0f} deg of the camera axis on "
                       f"{100 * b.head_within_limit:.0f}% of {b.frames} frames (median {b.head_median_deg:.0f} deg); "
                       f"wrists move {lx:.0f}x{ly:.0f} mm (left), {rx:.0f}x{ry:.0f} mm (right), "
                       f"{100 * self.travel_share(b):.0f}% of the input's travel")
        if self.sample_distance_mm is not None:
            out.append(f"samples differ by {self.sample_distance_mm:.0f} mm on the upper body (mean, pelvis-aligned)")
        failed = [name for name, ok in self.passed().items() if not ok]
        out.append("checks: all passed" if not failed else f"checks failed: {', '.join(failed)}")
        return out

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed()}


def measure_demo(body, truth: dict[str, np.ndarray], fitted: dict[str, np.ndarray],
                 samples: list[dict[str, np.ndarray]]) -> DemoReport:
    """Compare the fit with the true poses and describe truth, fit and samples (all SMPL-X parameter dicts)."""
    true_joints, fitted_joints = body_joints(body, truth), body_joints(body, fitted)
    sample_joints = [body_joints(body, s) for s in samples]
    bodies = [body_figures("input", truth, true_joints), body_figures("fit", fitted, fitted_joints)]
    bodies += [body_figures(f"sample {k + 1}", s, j) for k, (s, j) in enumerate(zip(samples, sample_joints))]
    distance = sample_distance(sample_joints[0], sample_joints[1]) if len(samples) > 1 else None
    return DemoReport(upper_body_mpjpe(fitted_joints, true_joints), distance, bodies)
