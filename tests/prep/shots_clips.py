"""A generated video with known shot changes: ffmpeg test sources joined end to end."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dr2common.ffmpeg_tools import ffmpeg_exe

FPS = 30
# (lavfi source, frames): moving test patterns, a zooming fractal, cellular automata and still bars;
# the same source twice in a row still jumps (it restarts), so every boundary is a cut.
SHOTS = (("testsrc2", 40), ("mandelbrot", 31), ("smptehdbars", 17), ("testsrc2", 45), ("life=mold=10:ratio=0.5", 30),
         ("rgbtestsrc", 20), ("mandelbrot", 37))


# A fade out to black and in again from black (ffmpeg's fade filter), 15 frames each: the shot changes at 45.
FADE = (("testsrc2", 45, "fade=t=out:start_frame=30:nb_frames=15"), ("mandelbrot", 45, "fade=t=in:nb_frames=15"))


def cut_frames(shots=SHOTS) -> list[int]:
    """0-based first frames of every shot after the first."""
    starts, total = [], 0
    for _, frames, *_ in shots[:-1]:
        total += frames
        starts.append(total)
    return starts


def joined_sources(out: Path, shots=SHOTS, size=(320, 240)) -> Path:
    """An mp4 (with a tone for audio) whose shots are the given sources, each `frames` long at 30 FPS."""
    w, h = size
    command = [ffmpeg_exe(), "-v", "error", "-y"]
    for source, frames, *extra in shots:  # extra: a filter applied to this shot (e.g. a fade)
        name, _, options = source.partition("=")
        options = f"{options}:" if options else ""
        graph = f"{name}={options}size={w}x{h}:rate={FPS},trim=end_frame={frames},setpts=PTS-STARTPTS"
        graph += "".join(f",{f}" for f in extra)
        command += ["-f", "lavfi", "-i", graph]
    seconds = sum(frames for _, frames, *_ in shots) / FPS
    command += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}"]
    labels = "".join(f"[{i}:v]" for i in range(len(shots)))
    command += ["-filter_complex", f"{labels}concat=n={len(shots)}:v=1:a=0,format=yuv420p[v]", "-map", "[v]",
                "-map", f"{len(shots)}:a", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-c:a", "aac",
                "-shortest", str(out)]
    subprocess.run(command, check=True)
    return out
