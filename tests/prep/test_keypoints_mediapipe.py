"""The MediaPipe backend on the real footage: detection rates, sides, face, speaker choice, workers.

Fast tests use half-second excerpts; the whole clips are marked slow.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dr2common.ffmpeg_tools import probe
from dr2prep.keypoints import mediapipe_backend
from dr2prep.keypoints.mediapipe_backend import MediaPipeOptions
from dr2prep.keypoints.openpose_format import BODY, FACE, HAND_LEFT, HAND_RIGHT, load_keypoints, read_frame_json
from dr2prep.keypoints.stage import KeypointSettings, run_keypoints_stage
from tests.prep.keypoints_clips import OLIVER, TEDX, excerpt, prepared, two_people

R_SHOULDER, L_SHOULDER, R_WRIST, L_WRIST, NOSE = 2, 5, 4, 7, 0
R_EYE_CORNERS, L_EYE_CORNERS = (36, 39), (42, 45)
RIGHT_PUPIL, LEFT_PUPIL, NOSE_TIP, CHIN = 68, 69, 30, 8


def wrist_distances(keypoints: np.ndarray, hand_rows: slice, wrist: int, other_wrist: int):
    """Pixel distance of each detected hand's wrist to the matching and to the other BODY_25 wrist."""
    hand_wrist = keypoints[:, hand_rows][:, 0]
    ok = (hand_wrist[:, 2] > 0) & (keypoints[:, wrist, 2] > 0) & (keypoints[:, other_wrist, 2] > 0)
    same = np.hypot(*(hand_wrist[ok, :2] - keypoints[ok, wrist, :2]).T)
    other = np.hypot(*(hand_wrist[ok, :2] - keypoints[ok, other_wrist, :2]).T)
    return same, other


def check_person(keypoints: np.ndarray, height: int) -> None:
    """Sides not swapped, hands at the right wrists, face points on the face, for a speaker facing the camera."""
    body, face = keypoints[:, BODY], keypoints[:, FACE]
    seen = body[:, NOSE, 2] > 0
    # facing the camera, the person's right shoulder is on the image's left
    assert np.mean(body[seen, R_SHOULDER, 0] < body[seen, L_SHOULDER, 0]) == 1.0
    for rows, wrist, other in ((HAND_LEFT, L_WRIST, R_WRIST), (HAND_RIGHT, R_WRIST, L_WRIST)):
        same, other_distance = wrist_distances(keypoints, rows, wrist, other)
        if len(same):
            assert np.all(same < other_distance)  # never the other side's wrist
            assert np.median(same) < 0.05 * height  # a few pixels at 270p, a fraction of a palm at 720p
    found = face[:, NOSE_TIP, 2] > 0
    f = face[found]
    # eyes left to right in the image: right eye outer, inner, left eye inner, outer
    assert np.all((f[:, 36, 0] < f[:, 39, 0]) & (f[:, 39, 0] < f[:, 42, 0]) & (f[:, 42, 0] < f[:, 45, 0]))
    for pupil, (a, b) in ((RIGHT_PUPIL, R_EYE_CORNERS), (LEFT_PUPIL, L_EYE_CORNERS)):
        eye_width = np.hypot(*(f[:, a, :2] - f[:, b, :2]).T)
        centre = (f[:, a, :2] + f[:, b, :2]) / 2
        assert np.median(np.hypot(*(f[:, pupil, :2] - centre).T) / eye_width) < 0.25
    # the face mesh's nose tip lies on the pose model's nose and every face point is near it
    # (a face is about half as wide as the shoulders); the chin is below the mouth
    face_size = np.maximum(np.ptp(f[:, :68, 0], axis=1), np.ptp(f[:, :68, 1], axis=1))
    shoulders = np.hypot(*(body[found, R_SHOULDER, :2] - body[found, L_SHOULDER, :2]).T)
    nose = body[found, NOSE, None, :2]
    assert np.median(np.hypot(*(f[:, NOSE_TIP, :2] - nose[:, 0]).T) / face_size) < 0.2
    assert np.all(np.hypot(*(f[:, :, :2] - nose).transpose(2, 0, 1)) < 0.6 * shoulders[:, None])
    assert np.all(f[:, CHIN, 1] > f[:, 57, 1])


@pytest.fixture
def tedx_excerpt(media_dir, tmp_path):
    return prepared(excerpt(media_dir / TEDX, tmp_path / "tedx_half.mp4", 6.0, 0.5), tmp_path / "ws")


def test_excerpt_json_and_npz_hold_the_same_speaker(tedx_excerpt):
    outcome = run_keypoints_stage(tedx_excerpt, KeypointSettings())
    track = load_keypoints(tedx_excerpt)
    assert track.keypoints.shape[1:] == (137, 3) and track.frames >= 15 and track.image_size == (480, 270)
    assert outcome.record["summary"]["detection_rates"]["body"] == 1.0
    for t in (0, track.frames - 1):
        people = read_frame_json(tedx_excerpt / "keypoints" / f"{t + 1:06d}_keypoints.json")
        np.testing.assert_array_equal(people[0].astype(np.float32), track.keypoints[t])
    seen = track.keypoints[..., 2] > 0
    assert track.keypoints[seen][:, 0].max() <= 480 and track.keypoints[seen][:, 1].max() <= 270
    check_person(track.keypoints, 270)


@pytest.mark.parametrize("frames", [1, 59, 120, 121, 241, 1379, 1380, 3600])
def test_tracking_segments_cover_the_clip_once_in_an_even_number_of_near_equal_parts(frames):
    bounds = mediapipe_backend.segment_bounds(frames, 120)
    assert [i for b in bounds for i in b] == list(range(frames))  # every frame once, in order
    lengths = [len(b) for b in bounds]
    assert max(lengths) <= 120 and max(lengths) - min(lengths) <= 1
    assert len(bounds) == 1 or len(bounds) % 2 == 0  # two or four workers end together
    if frames == 1379:  # the 46 s clip: 12 segments of 115/114 frames, not 11 of 120 and one of 59
        assert lengths == [115] * 11 + [114]


@pytest.mark.slow
def test_workers_give_the_same_keypoints_as_one(tedx_excerpt, tmp_path, monkeypatch):
    settings = KeypointSettings(mediapipe=MediaPipeOptions(max_segment_frames=6))
    run_keypoints_stage(tedx_excerpt, settings, workers=1)
    one = load_keypoints(tedx_excerpt).keypoints
    run_keypoints_stage(tedx_excerpt, settings, workers=2, force=True)
    np.testing.assert_array_equal(load_keypoints(tedx_excerpt).keypoints, one)
    # workers replaced after every task (as a long clip's are, to keep memory flat): still the same
    monkeypatch.setattr(mediapipe_backend, "TASKS_PER_WORKER", 1)
    run_keypoints_stage(tedx_excerpt, settings, workers=2, force=True)
    np.testing.assert_array_equal(load_keypoints(tedx_excerpt).keypoints, one)


@pytest.mark.slow
def test_the_speaker_is_kept_when_someone_else_is_in_view_first(media_dir, tmp_path):
    clip = prepared(two_people(media_dir, tmp_path / "two.mp4"), tmp_path / "ws")
    outcome = run_keypoints_stage(clip, KeypointSettings())
    nose_x = load_keypoints(clip).keypoints[:, NOSE, 0]
    # frames 1-10: only the host (left edge) is in view; then the large, central speaker comes in.
    # Holistic alone keeps tracking the host; with the others greyed out it follows the speaker.
    assert np.all(nose_x[:10] < 300)
    assert np.all(nose_x[20:] > 500)
    assert outcome.record["summary"]["frames_with_others_masked"] > 0


@pytest.fixture(scope="module")
def whole_clips(tmp_path_factory):
    """Both real clips through the media and keypoints stages (2 workers), with overlays."""
    from tests.conftest import MEDIA_DIR

    if not (MEDIA_DIR / OLIVER).is_file():
        pytest.skip(f"real footage not found in {MEDIA_DIR}")
    workspace = tmp_path_factory.mktemp("kp")
    clips = {}
    for name in (OLIVER, TEDX):
        clip = prepared(MEDIA_DIR / name, workspace)
        run_keypoints_stage(clip, KeypointSettings(), workers=2, overlay=True)
        clips[name] = clip
    return clips


@pytest.mark.slow
@pytest.mark.parametrize("name", [OLIVER, TEDX])
def test_whole_clips_body_hands_and_face(whole_clips, name):
    track = load_keypoints(whole_clips[name])
    rates = track.detection_rates()
    assert rates["body"] >= 0.95 and rates["face"] >= 0.95
    assert rates["hand_left"] >= 0.7 and rates["hand_right"] >= 0.7  # both hands are in view nearly throughout
    check_person(track.keypoints, track.image_size[1])


@pytest.mark.slow
@pytest.mark.parametrize("name", [OLIVER, TEDX])
def test_whole_clip_overlay_and_import_round_trip(whole_clips, name, tmp_path):
    clip = whole_clips[name]
    info = probe(clip / "keypoints" / "overlay.mp4")
    assert info.has_audio and (info.width, info.height) == load_keypoints(clip).image_size
    # dr2's JSON, imported back (into a copy of the clip), gives the same array
    copy = tmp_path / clip.name
    shutil.copytree(clip, copy)
    run_keypoints_stage(copy, KeypointSettings(backend="import", import_dir=str(clip / "keypoints")), force=True)
    np.testing.assert_array_equal(load_keypoints(copy).keypoints, load_keypoints(clip).keypoints)
