"""The demo's generated speaker: dressed, with a face, upright, and read by the real detector as a person."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dr2model.demo_figure import COLOURS, HAIR, SKIN, SLEEVE, VEST, dress, render_figure
from dr2model.demo_input import FOCAL_LENGTH, SIZE, audio_driven_motion, syllable_onsets
from dr2model.demo_report import head_angles
from dr2prep.bodymodel.skeleton import FIRST_STATIC_LANDMARK, LEFT_EYE, NUM_STATIC_LANDMARKS, RIGHT_EYE

FRAMES = 90


@pytest.fixture(scope="module")
def body():
    from dr2prep.bodymodel.loading import load_body_model

    return load_body_model("open")


@pytest.fixture(scope="module")
def motion():
    rng = np.random.default_rng(0)
    return audio_driven_motion(syllable_onsets(rng, FRAMES / 30), FRAMES, rng)


@pytest.fixture(scope="module")
def posed(body, motion):
    layer = body.smplx_layer(batch_size=FRAMES)
    with torch.no_grad():
        output = layer(**{k: torch.as_tensor(v, dtype=torch.float32) for k, v in motion.items()})
    return output.vertices.numpy(), output.joints.numpy()


def _pixel(point: np.ndarray) -> tuple[int, int]:
    x, y = FOCAL_LENGTH * point[:2] / point[2] + np.array(SIZE) / 2
    return int(round(x)), int(round(y))


def test_motion_is_upright_facing_and_moves_the_hands(motion, posed):
    angles = head_angles(motion["global_orient"], motion["body_pose"])
    assert angles.max() < 20  # the speaker faces the camera throughout
    _, joints = posed
    wrists = joints[:, [20, 21]]
    shoulders = joints[:, [16, 17]]
    assert (wrists[..., 1] > shoulders[..., 1] - 0.1).all()  # hands stay below the shoulders (y points down)
    assert (np.linalg.norm(np.ptp(wrists[..., :2], axis=0), axis=-1) > 0.1).all()  # each hand travels over 10 cm
    # hands clear of the torso: the wrists are farther from the body's midline than the hips are
    hip_half_width = np.abs(joints[:, 1, 0] - joints[:, 2, 0]).mean() / 2
    assert (np.abs(wrists[..., 0] - joints[:, None, 0, 0]) > hip_half_width).mean() > 0.9


def test_figure_has_skin_hair_clothes_and_a_face(body, posed):
    figure = dress(body)
    assert {SKIN, HAIR, VEST, SLEEVE} <= set(np.unique(figure.material).tolist())
    vertices, joints = posed
    image = render_figure(figure, vertices[0], joints[0, FIRST_STATIC_LANDMARK:FIRST_STATIC_LANDMARK
                                                         + NUM_STATIC_LANDMARKS], SIZE, FOCAL_LENGTH)
    assert image.shape == (SIZE[1], SIZE[0], 3)
    for eye in (LEFT_EYE, RIGHT_EYE):  # dark irises drawn where the eyes are
        x, y = _pixel(joints[0, eye])
        assert image[y - 1:y + 2, x - 1:x + 2].mean() < 90
    x, y = _pixel(joints[0, 15] + np.array([0.0, 0.1, -0.05]))  # below the head joint: the chin's skin
    assert np.abs(image[y, x].astype(float) - COLOURS[SKIN]).max() < 80


@pytest.mark.slow
def test_mediapipe_reads_the_figure_as_a_person(tmp_path, body, posed):
    """The real detector finds the face in every frame and puts the arms where they are."""
    import cv2

    from dr2prep.bodymodel.openpose_correspondence import OPENPOSE_FROM_SMPLX
    from dr2prep.keypoints.mediapipe_backend import detect_mediapipe

    figure = dress(body)
    vertices, joints = posed
    chosen = range(0, FRAMES, 15)
    paths = []
    for i in chosen:
        face = joints[i, FIRST_STATIC_LANDMARK:FIRST_STATIC_LANDMARK + NUM_STATIC_LANDMARKS]
        paths.append(tmp_path / f"{i:06d}.jpg")
        cv2.imwrite(str(paths[-1]), render_figure(figure, vertices[i], face, SIZE, FOCAL_LENGTH))
    keypoints, _ = detect_mediapipe(paths, *SIZE)
    truth = joints[list(chosen)][:, OPENPOSE_FROM_SMPLX]
    truth_px = FOCAL_LENGTH * truth[..., :2] / truth[..., 2:] + np.array(SIZE) / 2
    face_found = keypoints[:, 67:, 2].mean(axis=1) > 0.3
    assert face_found.all()
    for point in (3, 4, 6, 7):  # BODY_25 right elbow, right wrist, left elbow, left wrist
        error = np.linalg.norm(keypoints[:, point, :2] - truth_px[:, point], axis=1)
        assert np.median(error) < 25, (point, error)
