"""Fixtures shared by the whole suite: synthetic videos and the optional real footage."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dr2common.ffmpeg_tools import ffmpeg_exe

MEDIA_DIR = Path(os.environ.get("DR2_MEDIA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "media"))


@pytest.fixture
def media_dir() -> Path:
    """The real clips in ../shared/media; the test is skipped when they are absent."""
    if not (MEDIA_DIR / "oliver_talkshow_7s.mp4").is_file():
        pytest.skip(f"real footage not found in {MEDIA_DIR}")
    return MEDIA_DIR


def build_video(path: Path, seconds: float, fps: float, size=(160, 120), audio: bool = True, vfr: bool = False) -> Path:
    """A small test video: ffmpeg's test pattern plus a 440 Hz tone (optional)."""
    w, h = size
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={w}x{h}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}", "-ac", "2"]
    if vfr:
        # Drop frames irregularly and keep their original timestamps: a variable-frame-rate file.
        cmd += ["-vf", "select='not(mod(n\\,3))+not(mod(n\\,7))'", "-fps_mode", "vfr"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    if audio:
        cmd[-1:-1] = ["-c:a", "aac"]
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture
def make_video(tmp_path):
    """Factory: make_video(seconds, fps, size=(w, h), audio=True, vfr=False) -> Path of an mp4."""
    counter = iter(range(1000))

    def make(seconds: float = 2.0, fps: float = 30, size=(160, 120), audio: bool = True, vfr: bool = False) -> Path:
        return build_video(tmp_path / f"video{next(counter)}.mp4", seconds, fps, size, audio, vfr)

    return make
