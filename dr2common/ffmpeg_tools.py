"""Finding and running ffmpeg: the system binary, else the one in the imageio-ffmpeg wheel.

Probing parses `ffmpeg -i` (the wheel ships no ffprobe), so one code path
serves every install. Commands are built with ffmpeg-python.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import re
import signal
import tempfile
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import ffmpeg
import numpy as np

from dr2common.atomic import atomic_path
from dr2common.errors import Dr2Error
from dr2common.progress import progress_bar

_PR_SET_PDEATHSIG = 1


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """$DR2_FFMPEG, else `ffmpeg` on PATH, else the imageio-ffmpeg binary."""
    override = os.environ.get("DR2_FFMPEG")
    if override:
        return override
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is a dependency
        raise Dr2Error("no ffmpeg found; install it (apt-get install ffmpeg) or pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_version() -> str:
    out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


@dataclass(frozen=True)
class Probe:
    """What a media file holds, as far as its header says."""

    duration: float | None  # seconds; None when the container does not say
    has_video: bool
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    has_audio: bool
    audio_rate: int | None
    audio_channels: str | None
    audio_codec: str | None


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)")
_ROTATION = re.compile(r"(?:Display Matrix|displaymatrix): rotation of (-?[\d.]+) degrees|rotate\s*:\s*(-?\d+)")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: (\w+).*?, (\d+) Hz, ([^,]+)")


def probe(path: Path) -> Probe:
    """Read the header of a media file; a clear Dr2Error when it is not media."""
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    text = result.stderr
    if "Input #0" not in text:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise Dr2Error(f"{path} is not a readable video ({last}); give an mp4/mov/mkv/avi file")
    duration = None
    if m := _DURATION.search(text):
        duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    video = _VIDEO.search(text)
    fps = None
    if video:
        line = text[video.start() : text.find("\n", video.start())]
        if m := _FPS.search(line):
            fps = float(m[1]) * (1000 if m[2] else 1)
    width, height = (int(video[2]), int(video[3])) if video else (None, None)
    if video:
        # ffmpeg turns frames upright (autorotate): report the size they are shown and extracted at
        block = text[video.start():]
        block = block[: block.find("Stream #", 1)] if "Stream #" in block[1:] else block
        if (m := _ROTATION.search(block)) and round(float(m[1] or m[2]) / 90) % 2:
            width, height = height, width
    audio = _AUDIO.search(text)
    return Probe(
        duration=duration,
        has_video=video is not None,
        width=width,
        height=height,
        fps=fps,
        video_codec=video[1] if video else None,
        has_audio=audio is not None,
        audio_rate=int(audio[2]) if audio else None,
        audio_channels=audio[3].strip() if audio else None,
        audio_codec=audio[1] if audio else None,
    )


def _die_with_parent() -> None:
    """Ask Linux to kill ffmpeg when dr2 dies, so a killed run leaves no writer behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: nothing to do
        pass


def run_ffmpeg(args: list[str], source: Path, duration: float | None, desc: str) -> None:
    """Run a compiled ffmpeg command with a progress bar; any decoding error is fatal.

    ffmpeg exits 0 on a truncated or damaged file and only logs errors, so
    every error line (`-v error`) is treated as damage to the source.
    """
    command = args[:1] + ["-hide_banner", "-nostdin", "-v", "error", "-nostats", "-progress", "pipe:1"] + args[1:]
    total = round(duration, 2) if duration else None
    # stderr goes to a file: a pipe could fill up with error lines and stall ffmpeg.
    with tempfile.TemporaryFile("w+", errors="replace") as stderr, progress_bar(
        total=total, desc=desc, unit="s", bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} s"
    ) as bar:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, errors="replace",
            preexec_fn=_die_with_parent,
        )
        for line in process.stdout:
            if line.startswith("out_time_us=") and line.strip()[12:].lstrip("-").isdigit():
                seconds = max(0, int(line.strip()[12:])) / 1e6
                bar.update(max(0.0, min(seconds, total or seconds) - bar.n))
        code = process.wait()
        stderr.seek(0)
        errors = stderr.read(4096)
    if "No space left on device" in errors:  # ffmpeg's output, not the source, is the problem
        raise OSError(errno.ENOSPC, "No space left on device")
    if code != 0 or errors.strip():
        first = errors.strip().splitlines()[0] if errors.strip() else f"ffmpeg exit code {code}"
        raise Dr2Error(
            f"{source} is damaged or truncated (ffmpeg: {first.strip()}); "
            f"re-download it or re-encode it with `ffmpeg -i in.mp4 out.mp4`"
        )


VIDEO_CRF = 23  # x264 quality of the videos dr2 writes for people to look at: fine to watch, small on disk


def _encoder_args(out: Path, width: int, height: int, fps: float, audio: Path | None) -> list[str]:
    video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="bgr24", s=f"{width}x{height}", framerate=fps)
    video = video.filter("pad", "ceil(iw/2)*2", "ceil(ih/2)*2")  # x264's yuv420p needs even sizes
    streams = [video] + ([ffmpeg.input(str(audio)).audio] if audio else [])
    options = {"vcodec": "libx264", "pix_fmt": "yuv420p", "crf": VIDEO_CRF, "preset": "veryfast", "f": "mp4"}
    if audio:
        options["acodec"] = "aac"  # no -shortest: every frame is kept even when the audio ends a little early
    args = ffmpeg.output(*streams, str(out), **options).compile(cmd=ffmpeg_exe(), overwrite_output=True)
    return args[:1] + ["-hide_banner", "-nostdin", "-v", "error"] + args[1:]


def write_video(frames: Iterable[np.ndarray], out: Path, fps: float, audio: Path | None = None,
                hint: str = "check free disk space") -> Path:
    """Encode BGR frames (one size, any count) with `audio` into the mp4 `out`, atomically.

    Frames are streamed to ffmpeg, so memory does not grow with the length;
    an error (here or in the caller's frame generator) leaves no file at
    `out`. ffmpeg failing ends in a Dr2Error naming `out`, plus `hint`.
    """
    out = Path(out)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise Dr2Error(f"no frames to write to {out}")
    height, width = first.shape[:2]
    # ffmpeg's messages go to a file: a pipe could fill up and stall it while we write frames.
    with atomic_path(out) as tmp, tempfile.TemporaryFile() as log:
        process = subprocess.Popen(_encoder_args(tmp, width, height, fps, audio), stdin=subprocess.PIPE, stderr=log,
                                   preexec_fn=_die_with_parent)
        try:
            for frame in itertools.chain([first], frames):
                process.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
            process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its log says why
        except BaseException:
            process.kill()
            process.wait()
            raise
        code = process.wait()
        if code != 0:
            log.seek(0)
            message = log.read().decode(errors="replace").strip()
            first_line = message.splitlines()[0] if message else f"exit code {code}"
            raise Dr2Error(f"ffmpeg could not write {out} ({first_line}); {hint}")
    return out
