"""`dr2 demo` / `make demo`: the whole chain on an input the demo makes itself.

The input (`demo_input`) is generated, never downloaded, so the demo runs
offline and ships nothing under someone else's licence. It runs every stage
that has landed.
"""

from __future__ import annotations

from pathlib import Path

from dr2model.demo_input import make_demo_video
from dr2prep.pipeline import prepare_clip
from dr2prep.progress import say

DEMO_SECONDS = 8.0


def run_demo(workspace: Path, device: str = "cpu") -> Path:
    """Make the demo input and run the pipeline on it; returns the clip directory."""
    video = make_demo_video(Path(workspace) / "inputs" / "demo.mp4", seconds=DEMO_SECONDS)
    say(f"demo input: {video} (the open body gesturing to synthetic speech, rendered by dr2)")
    return prepare_clip(video, workspace, device=device)
