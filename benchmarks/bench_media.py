"""Media stage speed and memory: frames/s on a 720p clip, peak RSS, against a decode-only baseline.

Run: python benchmarks/bench_media.py [--seconds 60]
The baseline is ffmpeg decoding the same clip to nothing, run in the same process, so the
ratio says how much the JPEG writing and the audio pass cost on top of decoding.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import subprocess
import tempfile
import time
from pathlib import Path

from dr2common.ffmpeg_tools import ffmpeg_exe
from dr2prep.media import MediaSettings, prepare_media
from dr2common.progress import set_quiet


def make_720p_clip(path: Path, seconds: float) -> Path:
    """A 1280x720 30 FPS h264 clip with moving texture and a tone (like a real camera clip in cost)."""
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=44100:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path


def decode_only_seconds(video: Path) -> float:
    start = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-vf", "fps=30", "-f", "null", "-"], check=True)
    return time.perf_counter() - start


def measure_stage(video: Path, workspace: Path) -> None:
    """Child process: run the stage twice and print times and peak RSS as JSON."""
    set_quiet(True)
    start = time.perf_counter()
    prepare_media(video, workspace / "clip720", MediaSettings())
    stage = time.perf_counter() - start
    start = time.perf_counter()
    prepare_media(video, workspace / "clip720", MediaSettings())
    cached = time.perf_counter() - start
    print(json.dumps({
        "stage": stage,
        "cached": cached,
        "own_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ffmpeg_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated 720p clip")
    parser.add_argument("--measure", nargs=2, metavar=("VIDEO", "WORKSPACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure_stage(Path(args.measure[0]), Path(args.measure[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = make_720p_clip(tmp / "clip720.mp4", args.seconds)
        n_frames = round(args.seconds * 30)
        baseline = decode_only_seconds(video)
        # A fresh process, so peak RSS counts the stage alone, not the clip generation above.
        child = subprocess.run([sys.executable, __file__, "--measure", str(video), str(tmp / "ws")],
                               capture_output=True, text=True, check=True)
        result = json.loads(child.stdout)

    print(f"media stage, 1280x720 30 FPS, {args.seconds:.0f} s ({n_frames} frames), ffmpeg {ffmpeg_exe()}")
    print(f"{'what':<34}{'seconds':>9}{'frames/s':>10}")
    print(f"{'decode only (baseline)':<34}{baseline:>9.2f}{n_frames / baseline:>10.0f}")
    print(f"{'media stage (frames + audio)':<34}{result['stage']:>9.2f}{n_frames / result['stage']:>10.0f}")
    print(f"{'media stage again (up to date)':<34}{result['cached']:>9.3f}")
    print(f"stage / baseline time ratio: {result['stage'] / baseline:.2f}")
    print(f"peak RSS: dr2 process {result['own_rss_mib']:.0f} MiB, largest ffmpeg child {result['ffmpeg_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
