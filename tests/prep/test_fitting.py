"""The fit itself: the solver's pieces against dense references, and poses recovered from synthetic keypoints."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dr2common.errors import Dr2Error
from dr2prep.fitting import metrics
from dr2prep.fitting.fit import (
    FIRST_FRAME_STAGES,
    FitSettings,
    choose_reference_frames,
    clip_objective,
    fit_reference_frames,
    fit_sequence,
)
from dr2prep.fitting.objective import Objective, from_translation, reprojection_error_px
from dr2prep.fitting.solver import (
    BlockTridiagonalSystem,
    ColouredJacobian,
    DenseSystem,
    jacobian,
    jacobian_pattern,
    levenberg_marquardt,
    solve_block_tridiagonal,
)
from dr2prep.fitting.synthetic import make_clip
from dr2prep.bodymodel.fast_forward import FastForward

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread (tests/prep/conftest.py)

QUICK = FitSettings(first_frame_iterations=15)


@pytest.fixture(scope="module")
def clean(body):
    """A clean clip (no noise, dropouts or failures), its reference fit and its window fit."""
    clip = make_clip(body, n_frames=40, seed=5, pixel_noise=0.0, dropout=0.0, failures=0)
    settings = dataclasses.replace(QUICK, focal_length=clip.focal_length)
    reference = fit_reference_frames(body, clip.keypoints, settings, clip.image_size, "cpu")
    objective = clip_objective(body, reference, settings, clip.image_size, "cpu")
    x = np.concatenate([c.x for c in fit_sequence(objective, clip.keypoints, reference, settings, "cpu")])
    orient = torch.as_tensor(reference.global_orient[None])
    with torch.no_grad():
        joints = objective.joints(torch.as_tensor(x), orient).numpy()
        _, projected = objective.points(torch.as_tensor(x), orient)
    reprojection = reprojection_error_px(projected, torch.as_tensor(clip.keypoints)).numpy()
    return clip, reference, joints, reprojection


def test_block_tridiagonal_solve_matches_a_dense_solve():
    generator = torch.Generator().manual_seed(0)
    frames, size = 5, 7
    a = torch.randn(frames, size, 2 * size, generator=generator, dtype=torch.float64)
    coupling = torch.rand(size, generator=generator, dtype=torch.float64) * 3
    diagonal = a @ a.transpose(1, 2) + torch.diag(2 * coupling)
    rhs = torch.randn(frames, size, generator=generator, dtype=torch.float64)
    dense = torch.block_diag(*diagonal)
    for t in range(frames - 1):
        block = slice(t * size, (t + 1) * size), slice((t + 1) * size, (t + 2) * size)
        dense[block] = -torch.diag(coupling)
        dense[block[::-1]] = -torch.diag(coupling)
    expected = torch.linalg.solve(dense, rhs.reshape(-1)).reshape(frames, size)
    assert torch.allclose(solve_block_tridiagonal(diagonal, coupling, rhs), expected, atol=1e-9)


def _chain_problem(frames=4, size=3, tie=2.0):
    """A small nonlinear least-squares chain like the fit's: each frame's x + 0.3x³ near its own target,
    neighbours tied by tie·|x_t − x_{t−1}|². Returns cost, the ½-gradient and the Gauss-Newton pieces."""
    target = torch.randn(frames, size, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2

    def residual(x):
        return x + 0.3 * x**3 - target

    def cost(x):
        return float((residual(x) ** 2).sum() + tie * ((x[1:] - x[:-1]) ** 2).sum())

    def pieces(x):
        slope = 1 + 0.9 * x**2
        gradient = slope * residual(x)
        gradient[1:] += tie * (x[1:] - x[:-1])
        gradient[:-1] -= tie * (x[1:] - x[:-1])
        ties = torch.full((frames, 1), 2.0, dtype=torch.float64)
        ties[[0, -1]] = 1.0
        return torch.diag_embed(slope**2 + ties * tie), torch.full((size,), tie, dtype=torch.float64), gradient

    return cost, pieces, frames, size


def test_levenberg_marquardt_converges_alike_with_the_dense_and_the_block_tridiagonal_solve():
    """One LM loop; the linear solve is the problem's choice and must not change where it ends."""
    cost, pieces, frames, size = _chain_problem()

    def block_system(x):
        diagonal, coupling, gradient = pieces(x)
        return BlockTridiagonalSystem(diagonal, coupling, gradient)

    def dense_system(x):
        diagonal, coupling, gradient = pieces(x)
        dense = torch.block_diag(*diagonal)
        for t in range(frames - 1):
            block = slice(t * size, (t + 1) * size), slice((t + 1) * size, (t + 2) * size)
            dense[block] = -torch.diag(coupling)
            dense[block[::-1]] = -torch.diag(coupling)
        return DenseSystem(dense, gradient.reshape(-1))

    def move(x, step, fraction):
        return x + fraction * step.reshape(frames, size)

    start = torch.zeros(frames, size, dtype=torch.float64)
    results = [levenberg_marquardt(cost, system, move, start, iterations=60, relative_tolerance=1e-14)
               for system in (block_system, dense_system)]
    (x_block, cost_block), (x_dense, cost_dense) = results
    assert cost_block < 0.6 * cost(start)
    assert torch.allclose(x_block, x_dense, atol=1e-8) and abs(cost_block - cost_dense) < 1e-9
    assert pieces(x_block)[2].abs().max() < 1e-6  # a stationary point: the gradient vanishes


def test_levenberg_marquardt_keeps_the_start_when_no_step_lowers_the_cost():
    """Acceptance: a step is kept only when the cost goes down (here every move raises it)."""
    start = torch.zeros(2, dtype=torch.float64)
    x, final = levenberg_marquardt(lambda x: float((x**2).sum()) + 1.0,
                                   lambda x: DenseSystem(torch.eye(2, dtype=torch.float64), -torch.ones(2, dtype=torch.float64)),
                                   lambda x, step, fraction: x + fraction * step, start, iterations=10)
    assert torch.equal(x, start) and final == 1.0


def test_coloured_jacobian_equals_the_dense_one(body):
    """Forward differences over coloured columns give each frame's full Jacobian."""
    clip = make_clip(body, n_frames=3, seed=1)
    objective = Objective(body, FastForward(body, clip.betas), clip.focal_length, (640, 360), 100.0, 0.6)
    weights = FIRST_FRAME_STAGES[-1]
    orient = torch.as_tensor(clip.global_orient[None], dtype=torch.float32)
    keypoints = torch.as_tensor(clip.keypoints)
    x = torch.as_tensor(np.concatenate([clip.body_pose, clip.left_hand, clip.right_hand, clip.jaw, clip.face,
                                        from_translation(clip.transl)], axis=1), dtype=torch.float32)

    def residuals(p):
        rows = torch.arange(len(p)) // (len(p) // 3)
        return objective.gauss_newton_residuals(p, keypoints[rows], orient, weights)

    ones = torch.ones(1, 137, 3)
    coloured = ColouredJacobian(jacobian_pattern(
        lambda p: objective.gauss_newton_residuals(p, ones.expand(len(p), -1, -1), orient, weights), x.shape[1], "cpu"), "cpu")
    assert coloured.count < x.shape[1] / 4  # the sparsity is what makes a frame's Jacobian cheap
    fast = coloured(residuals, x, residuals(x))
    for t in range(3):
        dense = jacobian(lambda p, t=t: objective.gauss_newton_residuals(p, keypoints[t : t + 1].expand(len(p), -1, -1),
                                                                         orient, weights), x[t])
        assert (fast[t] - dense).norm() / dense.norm() < 2e-3


def test_reference_frame_is_the_best_detected_of_each_part():
    keypoints = np.zeros((10, 137, 3), np.float32)
    keypoints[[2, 7], :25, 2] = 0.9
    keypoints[8, :25, 2] = 0.5
    assert choose_reference_frames(keypoints, 1).tolist() == [2]
    assert choose_reference_frames(keypoints, 2).tolist() == [2, 7]
    with pytest.raises(Dr2Error, match="no body keypoints"):
        choose_reference_frames(np.zeros((4, 137, 3), np.float32), 1)


def test_clean_keypoints_give_back_the_pose(clean):
    clip, reference, joints, reprojection = clean
    assert np.nanmax(reprojection) < 1.5  # pixels, on a 1280x720 frame
    assert metrics.pa_mpjpe(joints, clip.joints).mean() < 20  # mm: the pose, up to the depth/size ambiguity
    assert metrics.mpjpe(joints, clip.joints).mean() < 40
    assert np.abs(reference.global_orient - clip.global_orient).max() < 0.1


def test_guessed_legs_do_not_lay_the_body_back(body):
    """Knees a detector guessed just below the hips (a cropped speaker) leave the legs and the pitch alone."""
    clip = make_clip(body, n_frames=6, seed=3, pixel_noise=0.0, dropout=0.0, failures=0)
    keypoints = clip.keypoints.copy()
    for hip, knee, ankle in ((9, 10, 11), (12, 13, 14)):
        keypoints[:, knee, :2] = keypoints[:, hip, :2] + np.array([5.0, 40.0])  # thighs foreshortened to 40 px
        keypoints[:, knee, 2] = 0.7
        keypoints[:, ankle, 2] = 0.0
    settings = dataclasses.replace(QUICK, focal_length=clip.focal_length)
    reference = fit_reference_frames(body, keypoints, settings, clip.image_size, "cpu")
    legs = reference.x[:, :63].reshape(-1, 21, 3)[:, [0, 1, 3, 4]]  # hips and knees
    assert np.degrees(np.linalg.norm(legs, axis=-1)).max() < 5
    assert np.abs(reference.global_orient - clip.global_orient).max() < 0.1


@pytest.mark.slow
def test_window_jitter_is_lower_than_per_frame_fitting(body):
    """The motion loss smooths: window mode's acceleration error is well below per-frame fitting's."""
    clip = make_clip(body, n_frames=64, seed=2)
    settings = dataclasses.replace(QUICK, focal_length=clip.focal_length)
    reference = fit_reference_frames(body, clip.keypoints, settings, clip.image_size, "cpu")
    objective = clip_objective(body, reference, settings, clip.image_size, "cpu")
    orient = torch.as_tensor(reference.global_orient[None])
    errors = {}
    for mode in ("window", "per-frame"):
        mode_settings = dataclasses.replace(settings, mode=mode)
        x = np.concatenate([c.x for c in fit_sequence(objective, clip.keypoints, reference, mode_settings, "cpu")])
        with torch.no_grad():
            joints = objective.joints(torch.as_tensor(x), orient).numpy()
        errors[mode] = metrics.acceleration_error(joints, clip.joints)
        failed = metrics.mpjpe(joints[clip.failed_frames], clip.joints[clip.failed_frames])
        assert np.isfinite(x).all() and failed.max() < 150  # frames without detections stay plausible
    assert errors["window"] < 0.6 * errors["per-frame"]


def test_fit_sequence_refuses_an_unknown_mode(body):
    clip = make_clip(body, n_frames=3, seed=1)
    reference = fit_reference_frames(body, clip.keypoints, dataclasses.replace(QUICK, first_frame_iterations=1),
                                     clip.image_size, "cpu")
    objective = clip_objective(body, reference, QUICK, clip.image_size, "cpu")
    with pytest.raises(Dr2Error, match="unknown fitting mode"):
        next(fit_sequence(objective, clip.keypoints, reference, dataclasses.replace(QUICK, mode="batch"), "cpu"))
