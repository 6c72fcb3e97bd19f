"""Clips for the keypoints tests, made from the real footage with ffmpeg and the real media stage."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dr2common.ffmpeg_tools import ffmpeg_exe
from dr2prep.media import MediaSettings, prepare_media

OLIVER = "oliver_talkshow_7s.mp4"
TEDX = "tedx_speaker_9s.mp4"


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def excerpt(source: Path, out: Path, start: float, seconds: float) -> Path:
    """`seconds` of `source` from `start`, re-encoded (frame-exact cut)."""
    _ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(source), "-c:v", "libx264", "-preset", "ultrafast",
            "-crf", "12", "-c:a", "aac", str(out))  # fmt: skip
    return out


def two_people(media_dir: Path, out: Path, seconds: float = 1.34, speaker_enters: float = 0.34) -> Path:
    """1280x720: the TEDx speaker, large and central, comes into view after `speaker_enters` s;
    a smaller host (from the talk show) sits at the left edge throughout."""
    graph = (
        f"color=gray:s=1280x720:r=30:d={seconds}[bg];"
        "[0:v]scale=1280:720,fps=30[speaker];"
        "[1:v]crop=620:680:560:40,scale=310:340,fps=30[host];"
        f"[bg][speaker]overlay=0:0:enable='gte(t,{speaker_enters})'[a];"
        "[a][host]overlay=0:380:shortest=1[v]"
    )
    _ffmpeg("-ss", "3.3", "-t", str(seconds), "-i", str(media_dir / TEDX), "-ss", "2", "-t", str(seconds),
            "-i", str(media_dir / OLIVER), "-filter_complex", graph, "-map", "[v]", "-map", "0:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-c:a", "aac", str(out))  # fmt: skip
    return out


def prepared(video: Path, workspace: Path) -> Path:
    """Run the media stage on `video`; returns the clip directory."""
    clip_dir = Path(workspace) / Path(video).stem
    prepare_media(video, clip_dir, MediaSettings())
    return clip_dir
