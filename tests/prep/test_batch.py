"""`dr2 prep` of many videos: the video list, the shard split, failures kept apart, the summary, and
results that do not depend on the worker count."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dr2prep.batch import clip_names, find_videos, parse_shard, shard
from dr2common.errors import Dr2Error
from tests.cli_runner import assert_one_line_error, run_dr2


def test_shards_cover_every_video_exactly_once():
    videos = [f"/corpus/session_{i:03d}.mp4" for i in range(23)]
    shuffled = list(reversed(videos))  # the split depends on the sorted list, not on the order given
    for n in (1, 2, 3, 5, 7, 23, 30):
        parts = [shard(shuffled, k, n) for k in range(1, n + 1)]
        joined = [v for part in parts for v in part]
        assert sorted(joined) == sorted(videos) and len(joined) == len(videos), n
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1, (n, sizes)
        assert parts == [shard(videos, k, n) for k in range(1, n + 1)]  # stable: the same on every machine


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", ""])
def test_a_bad_shard_is_refused(text):
    with pytest.raises(Dr2Error, match="--shard must be K/N"):
        parse_shard(text)
    assert parse_shard(" 2 / 8 ") == (2, 8)


def test_folders_give_their_videos_sorted_and_missing_paths_are_refused(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("b.mp4", "a.MOV", "notes.txt", "c.mkv"):
        (folder / name).write_bytes(b"x")
    (folder / "sub").mkdir()
    extra = tmp_path / "z.webm"
    extra.write_bytes(b"x")
    assert [p.name for p in find_videos([extra, folder, folder / "b.mp4"])] == ["a.MOV", "b.mp4", "c.mkv", "z.webm"]
    with pytest.raises(Dr2Error, match="does not exist"):
        find_videos([tmp_path / "nope.mp4"])
    with pytest.raises(Dr2Error, match="holds no video files"):
        find_videos([folder / "sub"])


def test_two_videos_that_would_share_a_clip_are_refused(tmp_path):
    with pytest.raises(Dr2Error, match="would both become clip 'talk'"):
        clip_names([tmp_path / "a" / "talk.mp4", tmp_path / "b" / "talk.mov"])


@pytest.fixture
def corpus(make_video, tmp_path):
    """A folder of two short videos and one broken file that claims to be a video."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("first", "second"):
        make_video(seconds=0.5, fps=30).rename(folder / f"{name}.mp4")
    (folder / "broken.mp4").write_text("not a video")
    return folder


@pytest.mark.slow
def test_a_folder_with_jobs_2_goes_on_past_a_broken_video_and_ends_with_a_summary(corpus, tmp_path):
    workspace = tmp_path / "ws"
    result = run_dr2("prep", corpus, "--jobs", "2", "--until", "media", workspace=workspace)
    assert result.returncode == 1, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:-1]}
    assert set(rows) == {"broken", "first", "second"}
    assert "1/1 (media)" in rows["first"] and "1/1 (media)" in rows["second"]
    assert "0/1" in rows["broken"] and "not a readable video" in rows["broken"]
    assert result.stdout.splitlines()[-1] == "2 of 3 videos prepared, 1 failed"
    for clip in ("first", "second"):
        assert len(list((workspace / clip / "frames").glob("*.jpg"))) == 15
    assert "Traceback" not in result.stderr


def clips_in_summary(stdout: str) -> list[str]:
    return [line.split()[0] for line in stdout.splitlines()[1:-1]]


@pytest.mark.slow
def test_two_shards_prepare_the_folder_between_them(corpus, tmp_path):
    (corpus / "broken.mp4").unlink()
    workspace = tmp_path / "ws"
    first = run_dr2("prep", corpus, "--shard", "1/2", "--until", "media", workspace=workspace, check=True)
    second = run_dr2("prep", corpus, "--shard", "2/2", "--until", "media", workspace=workspace, check=True)
    assert clips_in_summary(first.stdout) == ["first"] and clips_in_summary(second.stdout) == ["second"]
    assert sorted(p.name for p in workspace.iterdir() if (p / "clip.json").is_file()) == ["first", "second"]
    empty = run_dr2("prep", corpus, "--shard", "1/3", "--until", "media", workspace=workspace, check=True)
    assert "no videos" in empty.stdout


def test_clip_with_several_videos_and_bad_workers_are_one_line_errors(corpus, tmp_path):
    result = run_dr2("prep", corpus / "first.mp4", corpus / "second.mp4", "--clip", "x", workspace=tmp_path / "ws")
    assert_one_line_error(result, "--clip", "exactly one video")
    result = run_dr2("prep", corpus / "first.mp4", "--workers", "many", workspace=tmp_path / "ws")
    assert_one_line_error(result, "--workers")


@pytest.mark.slow
def test_one_worker_and_two_give_the_same_keypoints_and_fit(tmp_path, monkeypatch):
    """A generated clip of the open body (no footage needed), cut into 4 tracking segments."""
    from dr2model.demo_input import make_demo_video
    from dr2prep import pipeline
    from dr2prep.fitting.params_file import PARAMS_NAME
    from dr2prep.keypoints.mediapipe_backend import MediaPipeOptions
    from dr2prep.keypoints.stage import KeypointSettings
    from dr2prep.pipeline import PrepSettings, prepare_clip

    video = make_demo_video(tmp_path / "speaker.mp4", seconds=2.0)
    settings = PrepSettings(keypoints=KeypointSettings(mediapipe=MediaPipeOptions(max_segment_frames=24)))
    events = []

    def note(event):
        return lambda stage: events.append((stage, event, threading.current_thread().name, time.perf_counter()))

    warm_up = pipeline._warm_up_fit_stage
    monkeypatch.setattr(pipeline, "_warm_up_fit_stage", lambda: (note("start")("warm-up"), warm_up()))

    clips = [prepare_clip(video, tmp_path / f"ws{w}", settings=settings, workers=w, until="smplx",
                          on_stage_start=note("start"), on_stage_done=note("done")) for w in (1, 2)]
    # Shot detection needs only the frames: it ran in its own thread while keypoints were detected.
    for run in (events[: len(events) // 2], events[len(events) // 2 :]):
        at = {(stage, event): (thread, moment) for stage, event, thread, moment in run}
        assert at["shots", "start"][0] != at["keypoints", "start"][0]
        # torch and the fit's first-call imports load in their own thread beside detection, not beside ffmpeg
        assert at["warm-up", "start"][0].startswith("warm-up")
        assert at["media", "done"][1] <= at["warm-up", "start"][1] < at["keypoints", "done"][1]
        assert at["shots", "start"][1] < at["keypoints", "done"][1]
        assert max(at["keypoints", "done"][1], at["shots", "done"][1]) <= at["smplx", "start"][1]  # the fit waited
    keypoints = [np.load(c / "keypoints" / "keypoints.npz") for c in clips]
    assert keypoints[0]["keypoints"][:, :25, 2].mean() > 0.5  # the body was found: the comparison means something
    for name in keypoints[0].files:
        np.testing.assert_array_equal(keypoints[0][name], keypoints[1][name], err_msg=name)
    params = [np.load(c / "smplx" / PARAMS_NAME) for c in clips]
    assert set(params[0].files) == set(params[1].files)
    for name in params[0].files:
        np.testing.assert_array_equal(params[0][name], params[1][name], err_msg=name)
    # A re-run finds every stage up to date and spends no time warming up a fit that will not run.
    events.clear()
    prepare_clip(video, tmp_path / "ws1", settings=settings, workers=2, until="smplx", on_stage_start=note("start"))
    assert [stage for stage, *_ in events] == ["media", "shots", "keypoints", "smplx"]
