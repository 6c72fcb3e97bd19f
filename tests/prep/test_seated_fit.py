"""Seated speakers: thighs towards the camera, feet out of view. The fit keeps their legs where a sitting person's are.

The old isotropic hip prior reached a foreshortened thigh's knee by throwing the leg out
sideways (seated_speaker_20s: a leg out beyond 30 degrees in 41 % of the frames); the
leg priors in dr2prep/fitting/objective.py flex it forwards instead.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from smplx.lbs import batch_rodrigues

from dr2prep.bodymodel.fast_forward import FastForward
from dr2prep.fitting import objective
from dr2prep.fitting.camera import FACING_CAMERA, project
from dr2prep.fitting.fit import FitSettings, fit_reference_frames
from dr2prep.fitting.synthetic import gesture_poses

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread (tests/prep/conftest.py)

IMAGE_SIZE = (720, 1280)  # a phone held upright
FOCAL_LENGTH = 1400.0
ABDUCTED = 30.0  # degrees: a leg out to the side beyond this is what the old prior gave
LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE = 0, 1, 3, 4  # body_pose rows
FEET_AND_ANKLES = (11, 14, 19, 20, 21, 22, 23, 24)  # BODY_25: out of the picture
UPPER_BODY = (0, 2, 3, 4, 5, 6, 7, 15, 16, 17, 18)  # BODY_25 nose, shoulders, elbows, wrists, eyes, ears


def seated_keypoints(body, frames: int = 2, seed: int = 4):
    """Keypoints (T, 137, 3) of a speaker sitting on a chair facing the camera, cut off below the knees.

    Hips flexed 85 degrees with the knees 15 degrees apart, shins hanging; the camera at chest
    height. Returns the keypoints and the true body_pose (T, 63).
    """
    rng = np.random.default_rng(seed)
    pose = gesture_poses(rng, frames).reshape(frames, 21, 3)
    for hip, knee, side in ((LEFT_HIP, LEFT_KNEE, 1.0), (RIGHT_HIP, RIGHT_KNEE, -1.0)):
        spread = side * np.radians(15.0)  # about the vertical, after the flexion: knees apart
        flexion = -np.radians(85.0)
        # axis-angle of R_y(spread) R_x(flexion), from its matrix
        rotation = torch.as_tensor([[0.0, spread, 0.0], [flexion, 0.0, 0.0]])
        matrices = batch_rodrigues(rotation)
        combined = (matrices[0] @ matrices[1]).numpy()
        angle = np.arccos(np.clip((np.trace(combined) - 1) / 2, -1, 1))
        axis = np.array([combined[2, 1] - combined[1, 2], combined[0, 2] - combined[2, 0],
                         combined[1, 0] - combined[0, 1]]) / (2 * np.sin(angle))
        pose[:, hip] = axis * angle
        pose[:, knee] = [np.radians(85.0), 0.0, 0.0]
    pose = pose.reshape(frames, 63)
    forward = FastForward(body, None)
    zeros = torch.zeros(frames, 45)
    with torch.no_grad():
        points = forward(torch.tensor([FACING_CAMERA] * frames, dtype=torch.float32),
                         torch.as_tensor(pose, dtype=torch.float32), torch.zeros(frames, 3), zeros, zeros,
                         torch.zeros(frames, body.num_expression),
                         torch.tensor([[0.0, 0.25, 2.6]] * frames)).points
        pixels = project(points, FOCAL_LENGTH, torch.tensor([IMAGE_SIZE[0] / 2, IMAGE_SIZE[1] / 2])).numpy()
    keypoints = np.zeros((frames, pixels.shape[1], 3), np.float32)
    keypoints[..., :2] = pixels
    keypoints[..., 2] = 0.95
    outside = (pixels < 0).any(axis=-1) | (pixels[..., 0] > IMAGE_SIZE[0] - 1) | (pixels[..., 1] > IMAGE_SIZE[1] - 1)
    keypoints[outside] = 0.0
    keypoints[:, list(FEET_AND_ANKLES)] = 0.0
    return keypoints, pose


def abduction_degrees(x: np.ndarray) -> np.ndarray:
    """(K, 2) each thigh's angle out to its own side, from fitted variables (K, D)."""
    sines = objective.hip_abduction(torch.as_tensor(x[:, :63], dtype=torch.float32)).numpy()
    return np.degrees(np.arcsin(np.clip(sines, -1, 1)))


def fit(body, keypoints):
    settings = dataclasses.replace(FitSettings(first_frame_iterations=15), focal_length=FOCAL_LENGTH)
    return fit_reference_frames(body, keypoints, settings, IMAGE_SIZE, "cpu")


def old_leg_prior(patch: pytest.MonkeyPatch) -> None:
    """The prior before the leg priors: isotropic around the standing pose, knees held straight."""
    patch.setattr(objective, "ABDUCTION_STIFFNESS", 0.0)
    patch.setattr(objective, "FULL_LENGTH_SEEN", 1e-6)  # any seen length counts as a standing thigh (and knee)


@pytest.fixture(scope="module")
def fits(body):
    """The seated keypoints and their reference fit with the leg priors ("new") and without ("old")."""
    keypoints, _ = seated_keypoints(body)
    result = {"new": fit(body, keypoints)}
    with pytest.MonkeyPatch.context() as patch:
        old_leg_prior(patch)
        result["old"] = fit(body, keypoints)
    return keypoints, result


def upper_body_error_px(body, fitted, keypoints) -> float:
    forward = FastForward(body, fitted.betas)
    groups = objective.FrameLayout(body).split(torch.as_tensor(fitted.x, dtype=torch.float32))
    with torch.no_grad():
        points = forward(torch.as_tensor(fitted.global_orient[None], dtype=torch.float32).expand(len(fitted.x), 3),
                         groups["body_pose"], groups["jaw"], groups["left_hand"], groups["right_hand"],
                         groups["face"], objective.to_translation(groups["transl"])).points
        pixels = project(points, FOCAL_LENGTH, torch.tensor([IMAGE_SIZE[0] / 2, IMAGE_SIZE[1] / 2])).numpy()
    return float(np.linalg.norm(pixels[:, list(UPPER_BODY)] - keypoints[:, list(UPPER_BODY), :2], axis=-1).mean())


def test_the_synthetic_speaker_is_seated_and_cut_off_below_the_knees(body):
    keypoints, _ = seated_keypoints(body)
    knees, hips = keypoints[:, [10, 13]], keypoints[:, [9, 12]]
    assert (knees[..., 2] > 0.9).all() and not keypoints[:, list(FEET_AND_ANKLES), 2].any()
    thigh_seen = np.linalg.norm(knees[..., :2] - hips[..., :2], axis=-1)
    shoulders = np.linalg.norm(keypoints[:, 2, :2] - keypoints[:, 5, :2], axis=-1)
    assert (thigh_seen < 0.8 * shoulders[:, None]).all()  # the thighs point at the camera: seen short


def test_seated_legs_flex_forwards_instead_of_out_to_the_side(fits):
    """The case the old prior got wrong: it still fails without the leg priors, and passes with them."""
    _, fitted = fits
    pose = fitted["new"].x[:, :63].reshape(-1, 21, 3)
    assert abduction_degrees(fitted["new"].x).max() < ABDUCTED
    assert (pose[:, [LEFT_HIP, RIGHT_HIP], 0] < -np.radians(50)).all()  # thighs flexed forwards
    assert (pose[:, [LEFT_KNEE, RIGHT_KNEE], 0] > np.radians(50)).all()  # shins hanging, not pointing at the camera
    assert abduction_degrees(fitted["old"].x).max() > ABDUCTED


def test_upper_body_fits_as_well_with_the_leg_priors(body, fits):
    keypoints, fitted = fits
    new, old = (upper_body_error_px(body, fitted[k], keypoints) for k in ("new", "old"))
    assert new < max(1.2 * old, 3.0)  # px on a 720x1280 frame


def test_thigh_flexion_from_its_seen_length():
    keypoints = torch.zeros(3, 137, 3)
    keypoints[:, [12, 9], 2] = 1.0  # both hips seen
    keypoints[:, [13, 10], 2] = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.5, 0.5]])  # knees: last frame unsure
    keypoints[:, [13, 10], 1] = torch.tensor([[400.0, 400.0], [180.0, 90.0], [10.0, 10.0]])  # px below the hips
    full = torch.tensor([400.0, 400.0]) / objective.FULL_LENGTH_SEEN
    flexion = np.degrees(objective.thigh_flexion(keypoints, full).numpy())
    np.testing.assert_allclose(flexion[0], [0.0, 0.0], atol=1e-3)  # seen at full length: upright
    np.testing.assert_allclose(flexion[1], np.degrees(np.arccos([180 / 400, 90 / 400])), atol=1e-3)
    np.testing.assert_allclose(flexion[2], [0.0, 0.0])  # knees below MIN_LEG_CONFIDENCE: the standing default
