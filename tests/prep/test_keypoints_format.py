"""OpenPose layout, MediaPipe results mapped onto it, JSON files and keypoints.npz: sizes, exact round
trips, and bad files."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from dr2common.errors import Dr2Error
from dr2prep.keypoints.mediapipe_backend import holistic_to_openpose
from dr2prep.keypoints.mediapipe_mapping import FACE_MESH_TO_FACE70, HAND21_TO_OPENPOSE_HAND, POSE33_TO_BODY25
from dr2prep.keypoints.openpose_format import (
    BODY,
    BODY25_EDGES,
    BODY25_NAMES,
    FACE,
    HAND_EDGES,
    HAND_LEFT,
    HAND_RIGHT,
    N_POINTS,
    detected_parts,
    frame_json,
    load_keypoints,
    quantize,
    read_frame_json,
    save_keypoints_npz,
    write_frame_json,
)


def random_person(rng, width=1280, height=720) -> np.ndarray:
    person = np.zeros((N_POINTS, 3))
    person[:, 0] = rng.uniform(0, width, N_POINTS)
    person[:, 1] = rng.uniform(0, height, N_POINTS)
    person[:, 2] = rng.uniform(0, 1, N_POINTS)
    person[rng.random(N_POINTS) < 0.2, 2] = 0
    return person


def test_layout_sizes():
    assert len(BODY25_NAMES) == 25 and N_POINTS == 137
    assert [s.stop - s.start for s in (BODY, HAND_LEFT, HAND_RIGHT, FACE)] == [25, 21, 21, 70]
    assert BODY.stop == HAND_LEFT.start and HAND_LEFT.stop == HAND_RIGHT.start and HAND_RIGHT.stop == FACE.start
    assert max(max(e) for e in BODY25_EDGES) == 24 and len(HAND_EDGES) == 20


def test_mapping_tables_cover_every_openpose_point():
    assert len(POSE33_TO_BODY25) == 25 and len(HAND21_TO_OPENPOSE_HAND) == 21 and len(FACE_MESH_TO_FACE70) == 70
    assert all(0 <= i < 33 for sources in POSE33_TO_BODY25 for i in sources)
    assert all(0 <= i < 478 for sources in FACE_MESH_TO_FACE70 for i in sources)
    assert all(sources for sources in FACE_MESH_TO_FACE70)
    # only the small toes lack a MediaPipe landmark
    assert [BODY25_NAMES[i] for i, s in enumerate(POSE33_TO_BODY25) if not s] == ["LSmallToe", "RSmallToe"]
    # neck and mid-hip are midpoints of the shoulders and the hips
    assert POSE33_TO_BODY25[1] == (11, 12) and POSE33_TO_BODY25[8] == (23, 24)


def _landmark_list(rng, count: int):
    points = [SimpleNamespace(x=float(x), y=float(y), visibility=float(v))
              for x, y, v in zip(rng.uniform(-0.05, 1.05, count), rng.uniform(-0.05, 1.05, count),
                                 rng.uniform(0, 1, count))]
    return SimpleNamespace(landmark=points)


def _expected_part(landmarks, table, width, height, confidence):
    """What mediapipe_backend's docstring says, one point at a time: the mean of the sources in pixels (pixel centres
    at integers), the smallest source visibility or the given confidence, zero outside the image."""
    out = np.zeros((len(table), 3))
    for i, sources in enumerate(table):
        if sources:
            xs = [landmarks.landmark[j].x * width - 0.5 for j in sources]
            ys = [landmarks.landmark[j].y * height - 0.5 for j in sources]
            out[i] = np.mean(xs), np.mean(ys), (min(landmarks.landmark[j].visibility for j in sources)
                                                if confidence is None else confidence)
    outside = (out[:, 0] < -0.5) | (out[:, 0] > width - 0.5) | (out[:, 1] < -0.5) | (out[:, 1] > height - 0.5)
    out[outside] = 0.0
    return out


@pytest.mark.parametrize("with_face", [True, False])
def test_holistic_results_become_openpose_points_by_the_mapping_tables(with_face):
    """holistic_to_openpose applies the tables to all points at once; each point must be what the tables say."""
    rng = np.random.default_rng(3)
    width, height = 406, 720
    result = SimpleNamespace(pose_landmarks=_landmark_list(rng, 33), left_hand_landmarks=_landmark_list(rng, 21),
                             right_hand_landmarks=None, face_landmarks=_landmark_list(rng, 478) if with_face else None)
    person = holistic_to_openpose(result, width, height)
    pose = result.pose_landmarks.landmark
    np.testing.assert_allclose(person[BODY], _expected_part(result.pose_landmarks, POSE33_TO_BODY25, width, height,
                                                            None), rtol=0, atol=1e-9)
    np.testing.assert_allclose(person[HAND_LEFT], _expected_part(result.left_hand_landmarks, HAND21_TO_OPENPOSE_HAND,
                                                                 width, height, pose[15].visibility), rtol=0, atol=1e-9)
    assert not person[HAND_RIGHT].any()
    expected_face = (_expected_part(result.face_landmarks, FACE_MESH_TO_FACE70, width, height, pose[0].visibility)
                     if with_face else np.zeros((70, 3)))
    np.testing.assert_allclose(person[FACE], expected_face, rtol=0, atol=1e-9)
    assert (person[:, 2] == 0).sum() > 2  # some random points fell outside the image and were zeroed
    assert not holistic_to_openpose(SimpleNamespace(pose_landmarks=None), width, height).any()


def test_quantize_zeroes_undetected_points_and_survives_json_exactly(tmp_path):
    rng = np.random.default_rng(0)
    people = np.stack([random_person(rng) for _ in range(5)])
    people[0, :, 0] *= 20  # large coordinates, where float32 is coarser than the decimals kept
    q = quantize(people)
    assert q.dtype == np.float32
    assert np.all(q[q[..., 2] == 0][:, :2] == 0)
    for i, person in enumerate(q):
        write_frame_json(tmp_path / f"{i:06d}_keypoints.json", person)
        back = read_frame_json(tmp_path / f"{i:06d}_keypoints.json")
        assert back.shape == (1, N_POINTS, 3)
        np.testing.assert_array_equal(back[0].astype(np.float32), person)


def test_json_has_openpose_fields_and_short_numbers(tmp_path):
    person = quantize(random_person(np.random.default_rng(1))[None])[0]
    data = frame_json(person)
    entry = data["people"][0]
    assert len(entry["pose_keypoints_2d"]) == 75 and len(entry["face_keypoints_2d"]) == 210
    assert len(entry["hand_left_keypoints_2d"]) == 63 and len(entry["hand_right_keypoints_2d"]) == 63
    assert all(len(repr(v).split(".")[-1]) <= 3 for v in entry["pose_keypoints_2d"])
    assert frame_json(None)["people"] == []


def test_missing_parts_read_as_zeros_and_wrong_sizes_are_errors(tmp_path):
    path = tmp_path / "a_keypoints.json"
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 25}]}))
    people = read_frame_json(path)
    assert people.shape == (1, N_POINTS, 3) and people[0, 0, 2] == 0.5 and not people[0, 25:].any()
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 18}]}))
    with pytest.raises(Dr2Error, match="BODY_25"):
        read_frame_json(path)
    path.write_text("{not json")
    with pytest.raises(Dr2Error, match="not an OpenPose keypoints file"):
        read_frame_json(path)


def test_npz_round_trip_and_detected_flags(tmp_path):
    rng = np.random.default_rng(2)
    keypoints = quantize(np.stack([random_person(rng) for _ in range(4)]))
    keypoints[1] = 0  # nobody in frame 2
    keypoints[2, HAND_LEFT, 2] = 0  # no left hand in frame 3
    save_keypoints_npz(tmp_path / "keypoints.npz", keypoints, (1280, 720))
    track = load_keypoints(tmp_path / "keypoints.npz")
    np.testing.assert_array_equal(track.keypoints, keypoints)
    assert track.image_size == (1280, 720)
    assert track.detected.tolist() == detected_parts(keypoints).tolist()
    assert track.detected[1].tolist() == [False] * 4 and track.detected[2].tolist() == [True, False, True, True]
    assert track.detection_rates()["body"] == 0.75
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(Dr2Error, match="not a dr2 keypoints file"):
        load_keypoints(tmp_path / "bad.npz")
