"""The media stage through the real CLI: frame counts, audio, caching and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from dr2common.ffmpeg_tools import probe
from dr2prep.stage import clip_lock, fingerprint_path
from tests.cli_runner import assert_one_line_error, run_dr2


def clip_json(clip_dir: Path) -> dict:
    return json.loads((clip_dir / "clip.json").read_text())


def wav_info(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / w.getframerate()


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_frames_are_resampled_to_30_fps(make_video, tmp_path, fps):
    video = make_video(seconds=2.0, fps=fps)
    run_dr2("prep", video, "--until", "media", workspace=tmp_path / "ws", check=True)
    clip_dir = tmp_path / "ws" / video.stem
    frames = sorted((clip_dir / "frames").glob("*.jpg"))
    assert abs(len(frames) - 2.0 * 30) <= 1
    assert frames[0].name == "000001.jpg"
    assert clip_json(clip_dir)["frames"] == len(frames)
    assert clip_json(clip_dir)["source_fps"] == pytest.approx(fps)
    rate, channels, width, seconds = wav_info(clip_dir / "audio.wav")
    assert (rate, channels, width) == (16000, 1, 2)
    assert seconds == pytest.approx(2.0, abs=0.05)


def test_variable_frame_rate_source(make_video, tmp_path):
    video = make_video(seconds=3.0, fps=30, vfr=True)
    duration = probe(video).duration
    run_dr2("prep", video, "--until", "media", workspace=tmp_path / "ws", check=True)
    n_frames = len(list((tmp_path / "ws" / video.stem / "frames").glob("*.jpg")))
    assert abs(n_frames - duration * 30) <= 1


def test_second_run_is_up_to_date_and_force_redoes(make_video, tmp_path):
    video = make_video(seconds=1.0, fps=30)
    ws = tmp_path / "ws"
    run_dr2("prep", video, "--until", "media", workspace=ws, check=True)
    record = ws / video.stem / "media" / ".stage.json"
    first = json.loads(record.read_text())
    # The rates are constants now, not settings, but stay in the record as when they were: workspaces
    # prepared before stay up to date.
    assert first["settings"] == {"fps": 30, "jpeg_quality": 2, "sample_rate": 16000}

    command = [sys.executable, "-m", "cli", "--workspace", str(ws), "prep", str(video), "--until", "media"]
    again = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "media: up to date" in again.stderr
    assert json.loads(record.read_text())["finished"] == first["finished"]

    forced = subprocess.run(command + ["--force"], capture_output=True, text=True, check=True)
    assert "media: done" in forced.stderr
    assert json.loads(record.read_text())["output_digest"] == first["output_digest"]


def test_changed_video_reruns_the_stage(make_video, tmp_path):
    ws = tmp_path / "ws"
    video = make_video(seconds=1.0, fps=30)
    run_dr2("prep", video, "--until", "media", workspace=ws, check=True)
    longer = make_video(seconds=2.0, fps=30)
    os.replace(longer, video)
    run_dr2("prep", video, "--until", "media", workspace=ws, check=True)
    assert clip_json(ws / video.stem)["frames"] == 60


def test_missing_file(tmp_path):
    result = run_dr2("prep", tmp_path / "nope.mp4", workspace=tmp_path / "ws")
    assert_one_line_error(result, "does not exist")


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert_one_line_error(run_dr2("prep", empty, workspace=tmp_path / "ws"), "empty")


def test_text_file_renamed_mp4(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are my notes, not a video\n" * 20)
    assert_one_line_error(run_dr2("prep", fake, workspace=tmp_path / "ws"), "not a readable video")


def test_video_without_audio_keeps_frames(make_video, tmp_path):
    video = make_video(seconds=1.0, fps=30, audio=False)
    ws = tmp_path / "ws"
    result = run_dr2("prep", video, workspace=ws)
    assert_one_line_error(result, "no audio track", "training needs the speech")
    frames = list((ws / video.stem / "frames").glob("*.jpg"))
    assert len(frames) == 30
    assert not (ws / video.stem / "audio.wav").exists()
    # Re-running does not redo or lose the frames.
    again = run_dr2("prep", video, workspace=ws)
    assert_one_line_error(again, "no audio track")
    assert len(list((ws / video.stem / "frames").glob("*.jpg"))) == 30


def faststart_copy(video: Path, out: Path) -> Path:
    """The same video with its index first, so a cut-off copy still opens (as a partial download does)."""
    from dr2common.ffmpeg_tools import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-c", "copy", "-movflags", "+faststart", str(out)],
                   check=True)
    return out


def test_truncated_video(make_video, tmp_path):
    full = faststart_copy(make_video(seconds=3.0, fps=30, size=(320, 240)), tmp_path / "full.mp4")
    truncated = tmp_path / "truncated.mp4"
    data = full.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])
    result = run_dr2("prep", truncated, workspace=tmp_path / "ws")
    assert_one_line_error(result, "damaged or truncated")
    assert not (tmp_path / "ws" / "truncated" / "frames").exists()


def test_corrupt_middle(make_video, tmp_path):
    full = faststart_copy(make_video(seconds=3.0, fps=30, size=(320, 240)), tmp_path / "full.mp4")
    data = bytearray(full.read_bytes())
    start = len(data) // 2
    data[start : start + 4000] = bytes((i * 97 + 13) % 256 for i in range(4000))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(bytes(data))
    assert_one_line_error(run_dr2("prep", corrupt, workspace=tmp_path / "ws"), "damaged or truncated")


def test_unwritable_workspace(make_video, tmp_path):
    video = make_video(seconds=1.0, fps=30)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert_one_line_error(run_dr2("prep", video, workspace=blocker / "ws"), "workspace")
    assert_one_line_error(run_dr2("prep", video, workspace=blocker), "workspace")


def test_second_run_on_a_locked_clip_is_refused(make_video, tmp_path):
    video = make_video(seconds=1.0, fps=30)
    ws = tmp_path / "ws"
    with clip_lock(ws / video.stem):
        result = run_dr2("prep", video, workspace=ws)
    assert_one_line_error(result, "being processed by another dr2 run")
    run_dr2("prep", video, "--until", "media", workspace=ws, check=True)  # free again once the holder is done


@pytest.mark.slow
def test_sigkill_mid_stage_then_rerun_matches_uninterrupted_run(make_video, tmp_path):
    video = make_video(seconds=20.0, fps=30, size=(640, 480))
    reference_ws, killed_ws = tmp_path / "reference", tmp_path / "killed"
    run_dr2("prep", video, "--until", "media", workspace=reference_ws, check=True)

    command = [sys.executable, "-m", "cli", "--quiet", "--workspace", str(killed_ws), "prep", str(video)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial_frames = killed_ws / video.stem / ".partial" / "media" / "frames"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(partial_frames.glob("*.jpg"))) < 30:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    clip_dir = killed_ws / video.stem
    assert 0 < len(list(partial_frames.glob("*.jpg"))) < 600, "the kill must land mid-stage"
    assert not (clip_dir / "media" / ".stage.json").exists()
    assert not (clip_dir / "frames").exists()

    run_dr2("prep", video, "--until", "media", workspace=killed_ws, check=True)
    reference = reference_ws / video.stem
    for output in ("frames", "audio.wav"):
        assert fingerprint_path(clip_dir / output) == fingerprint_path(reference / output)
    assert len(list((clip_dir / "frames").glob("*.jpg"))) == 600
    assert not (clip_dir / ".partial" / "media").exists()


@pytest.mark.media
def test_real_talkshow_clip(media_dir, tmp_path):
    video = media_dir / "oliver_talkshow_7s.mp4"
    run_dr2("prep", video, "--until", "media", workspace=tmp_path, check=True)
    clip = clip_json(tmp_path / "oliver_talkshow_7s")
    assert clip["frames"] == 210
    assert (clip["width"], clip["height"]) == (1280, 720)
    rate, channels, _, seconds = wav_info(tmp_path / "oliver_talkshow_7s" / "audio.wav")
    assert (rate, channels) == (16000, 1)
    assert seconds == pytest.approx(7.0, abs=0.02)
