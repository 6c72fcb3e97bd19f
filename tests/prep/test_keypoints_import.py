"""The import backend: OpenPose JSON folders matched to frames by name, number or time; the speaker chosen."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dr2common.errors import Dr2Error
from dr2prep.keypoints.openpose_format import N_POINTS, frame_json, load_keypoints, quantize, write_frame_json
from dr2prep.keypoints.stage import KeypointSettings, run_keypoints_stage
from tests.prep.keypoints_clips import prepared

W, H = 320, 240


@pytest.fixture
def clip(make_video, tmp_path):
    """A 2 s clip recorded at 25 FPS: 60 frames at 30 FPS, 50 source frames."""
    return prepared(make_video(seconds=2.0, fps=25, size=(W, H)), tmp_path / "ws")


def person(t: int, cx: float = 160.0, scale: float = 1.0) -> np.ndarray:
    """A plausible upright person whose points move with the frame number t."""
    rng = np.random.default_rng(t)
    p = np.zeros((N_POINTS, 3))
    p[:, 0] = cx + scale * rng.uniform(-40, 40, N_POINTS) + 0.25 * t
    p[:, 1] = 40 + scale * rng.uniform(0, 150, N_POINTS)
    p[:, 2] = rng.uniform(0.3, 1.0, N_POINTS)
    return quantize(p[None])[0]


def write_people(path, people) -> None:
    data = frame_json(None)
    data["people"] = [frame_json(p)["people"][0] for p in people]
    path.write_text(json.dumps(data))


def import_dir(clip, folder) -> np.ndarray:
    run_keypoints_stage(clip, KeypointSettings(backend="import", import_dir=str(folder)), force=True)
    return load_keypoints(clip).keypoints


def test_files_named_after_the_frames_round_trip_exactly(clip, tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    expected = np.stack([person(t) for t in range(60)])
    expected[7] = 0  # no one in frame 8: OpenPose writes an empty people list
    for t in range(60):
        write_frame_json(folder / f"{t + 1:06d}_keypoints.json", expected[t] if expected[t].any() else None)
    np.testing.assert_array_equal(import_dir(clip, folder), expected)
    # dr2's own output re-imported gives the same array again
    again = tmp_path / "again"
    (clip / "keypoints").rename(again)
    np.testing.assert_array_equal(import_dir(clip, again), expected)


def test_openpose_video_numbering_from_zero_and_missing_frames(clip, tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    for t in range(60):
        if t != 30:
            write_frame_json(folder / f"talk_{t:012d}_keypoints.json", person(t))
    out = import_dir(clip, folder)
    np.testing.assert_array_equal(out[0], person(0))
    np.testing.assert_array_equal(out[59], person(59))
    assert not out[30].any()


def test_source_rate_files_are_matched_by_time(clip, tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    for s in range(50):  # OpenPose on the original 25 FPS video
        write_frame_json(folder / f"talk_{s:012d}_keypoints.json", person(s))
    out = import_dir(clip, folder)
    for t in (0, 6, 30, 59):  # frame t at t/30 s takes the source frame nearest in time
        np.testing.assert_array_equal(out[t], person(min(round(t * 25 / 30), 49)))


def test_the_speaker_is_kept_among_several_people(clip, tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    for t in range(60):
        people = [person(t, cx=60, scale=0.5), person(t)]
        write_people(folder / f"{t + 1:06d}_keypoints.json", people[:: 1 if t % 2 else -1])
    out = import_dir(clip, folder)
    assert all(np.array_equal(out[t], person(t)) for t in range(60))


def test_unmatched_counts_duplicates_and_foreign_coordinates_are_clear_errors(clip, tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    for t in range(20):
        write_frame_json(folder / f"x_{t:012d}_keypoints.json", person(t))
    with pytest.raises(Dr2Error, match="match neither"):
        import_dir(clip, folder)
    write_frame_json(folder / f"y_{3:012d}_keypoints.json", person(3))
    with pytest.raises(Dr2Error, match="both hold frame 3"):
        import_dir(clip, folder)
    big = tmp_path / "big"
    big.mkdir()
    for t in range(60):
        p = person(t)
        p[:, 0] *= 4  # made on a 4x larger video
        write_frame_json(big / f"{t + 1:06d}_keypoints.json", p)
    with pytest.raises(Dr2Error, match="outside the clip's 320x240 frames"):
        import_dir(clip, big)
    with pytest.raises(Dr2Error, match="no \\*_keypoints.json"):
        import_dir(clip, tmp_path / "ws")
    with pytest.raises(Dr2Error, match="--keypoints-dir"):
        run_keypoints_stage(clip, KeypointSettings(backend="import"))


def test_a_folder_with_no_one_in_it_is_a_clear_error(clip, tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    for t in range(60):
        write_frame_json(folder / f"{t + 1:06d}_keypoints.json", None)
    with pytest.raises(Dr2Error, match="no person found in any of the 60 frames"):
        import_dir(clip, folder)
    assert not (clip / "keypoints").exists()
