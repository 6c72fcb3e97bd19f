"""`dr2 demo` / `make demo`: the whole chain on an input the demo makes itself.

The input is generated, never downloaded, so the demo runs offline and ships
nothing under someone else's licence. It runs every stage that has landed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dr2prep.ffmpeg_tools import ffmpeg_exe
from dr2prep.pipeline import prepare_clip
from dr2prep.progress import say

DEMO_SECONDS = 6.0


def make_demo_video(path: Path, seconds: float = DEMO_SECONDS) -> Path:
    """ffmpeg's moving test pattern with a warbling tone as stand-in speech."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = "sin(2*PI*t*(180+60*sin(2*PI*3*t)))*(0.5+0.5*sin(2*PI*1.5*t))"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"aevalsrc={tone}:s=16000:d={seconds}",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path


def run_demo(workspace: Path) -> Path:
    """Make the demo input and run the pipeline on it; returns the clip directory."""
    video = make_demo_video(Path(workspace) / "inputs" / "demo.mp4")
    say(f"demo input: {video} (generated test pattern + tone)")
    return prepare_clip(video, workspace)
