"""The keypoints stage: caching, clear errors, and the overlay video."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import ffmpeg_exe, probe
from dr2prep.keypoints import mediapipe_backend
from dr2prep.keypoints.openpose_format import HAND_RIGHT, N_POINTS, write_frame_json
from dr2prep.keypoints.overlay import RIGHT_COLOUR, draw_keypoints
from dr2prep.keypoints.stage import KeypointSettings, backend_versions, run_keypoints_stage
from dr2prep.stage import read_record, upstream_fingerprint
from tests.prep.keypoints_clips import prepared

W, H = 320, 240


@pytest.fixture
def clip(make_video, tmp_path):
    return prepared(make_video(seconds=2.0, fps=30, size=(W, H)), tmp_path / "ws")


@pytest.fixture
def openpose_dir(tmp_path):
    """OpenPose JSON for the 60 frames of `clip`: a stick figure drifting right."""
    folder = tmp_path / "op"
    folder.mkdir()
    for t in range(60):
        p = np.zeros((N_POINTS, 3), dtype=np.float32)
        p[:, 0] = 100 + t + np.arange(N_POINTS) % 50
        p[:, 1] = 40 + np.arange(N_POINTS) % 150
        p[:, 2] = 0.9
        write_frame_json(folder / f"{t + 1:06d}_keypoints.json", p)
    return folder


def decoded_frames(video) -> int:
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-map", "0:v", "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout  # fmt: skip
    return len(raw) // (W * H)


def test_a_clip_without_a_person_is_a_clear_error(make_video, tmp_path):
    clip = prepared(make_video(seconds=0.5, fps=30, size=(W, H)), tmp_path / "ws")  # ffmpeg's test pattern
    with pytest.raises(Dr2Error, match="no person found in any of the 15 frames"):
        run_keypoints_stage(clip, KeypointSettings())
    assert read_record(clip, "keypoints") is None and not (clip / "keypoints").exists()


def test_bad_options_are_refused_before_any_work(clip):
    with pytest.raises(Dr2Error, match="unknown keypoints backend"):
        run_keypoints_stage(clip, KeypointSettings(backend="posenet"))
    with pytest.raises(Dr2Error, match="--workers"):
        run_keypoints_stage(clip, KeypointSettings(), workers=0)


def test_openpose_backend_without_pyopenpose_says_what_to_do(clip):
    try:
        import pyopenpose  # noqa: F401

        pytest.skip("pyopenpose is installed here")
    except ImportError:
        pass
    with pytest.raises(Dr2Error, match="pyopenpose.*--keypoints mediapipe"):
        run_keypoints_stage(clip, KeypointSettings(backend="openpose"))


def test_stage_is_cached_and_workers_are_not_a_setting(clip, openpose_dir):
    settings = KeypointSettings(backend="import", import_dir=str(openpose_dir))
    first = run_keypoints_stage(clip, settings)
    assert not first.skipped and first.record["summary"]["detection_rates"]["body"] == 1.0
    assert run_keypoints_stage(clip, settings, workers=2).skipped
    write_frame_json(openpose_dir / "000005_keypoints.json", None)  # the imported data changed
    assert not run_keypoints_stage(clip, settings).skipped


def test_overlay_has_every_frame_and_the_audio_and_does_not_touch_the_cache(clip, openpose_dir):
    settings = KeypointSettings(backend="import", import_dir=str(openpose_dir))
    run_keypoints_stage(clip, settings)
    digest = upstream_fingerprint(clip, "keypoints", "test")
    outcome = run_keypoints_stage(clip, settings, overlay=True)
    assert outcome.skipped
    overlay = clip / "keypoints" / "overlay.mp4"
    info = probe(overlay)
    assert info.has_audio and (info.width, info.height) == (W, H)
    assert decoded_frames(overlay) == 60
    assert upstream_fingerprint(clip, "keypoints", "test") == digest
    assert run_keypoints_stage(clip, settings, force=True).record["output_digest"] == digest


def test_drawing_colours_the_right_hand_in_the_right_side_colour():
    image = np.zeros((H, W, 3), dtype=np.uint8)
    person = np.zeros((N_POINTS, 3), dtype=np.float32)
    person[HAND_RIGHT] = (200.0, 100.0, 0.9)
    draw_keypoints(image, person)
    assert tuple(image[100, 200]) == RIGHT_COLOUR
    assert image.sum() > 0 and image[:, :150].sum() == 0


def test_backend_versions_for_dr2_info():
    versions = backend_versions()
    assert versions["mediapipe"].startswith("0.10.") and versions["import"] == "built in"


def _task_and_process(task: int) -> tuple[int, int]:
    return task, os.getpid()


def test_keypoint_workers_are_replaced_after_their_tasks_and_keep_the_order(monkeypatch):
    """Long clips replace each worker process after TASKS_PER_WORKER tasks (its memory stays bounded); the
    replacement must not hang, as ProcessPoolExecutor(max_tasks_per_child=...) does (CPython gh-115634)."""
    monkeypatch.setattr(mediapipe_backend, "TASKS_PER_WORKER", 2)
    processes = mediapipe_backend._WorkerProcesses(2)
    try:
        results = mediapipe_backend._run_tasks(processes, _task_and_process, list(range(9)), [1] * 9, "test")
    finally:
        processes.close()
    assert [task for task, _ in results] == list(range(9))
    assert len({pid for _, pid in results}) >= 5  # 9 tasks, 2 per process: at least 5 processes
    assert os.getpid() not in {pid for _, pid in results}


def _fail_on_three(task: int) -> int:
    if task == 3:
        raise ValueError("task 3 failed")
    return task


def test_a_failing_keypoint_task_stops_the_run_with_its_error():
    processes = mediapipe_backend._WorkerProcesses(2)
    try:
        with pytest.raises(ValueError, match="task 3 failed"):
            mediapipe_backend._run_tasks(processes, _fail_on_three, list(range(40)), [1] * 40, "test")
    finally:
        processes.close()
