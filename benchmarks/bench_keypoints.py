"""Keypoints stage speed: frames/s of the MediaPipe backend at 720p with 1 and 2 workers, and what limits it.

Run: python benchmarks/bench_keypoints.py [--loops 2] [--video PATH]
The clip is the 720p talk-show footage (a real person, so every model of
Holistic runs), looped `--loops` times. The baseline rows, measured in this
process on the same frames, split one frame's cost into JPEG decoding,
Holistic itself (wall and CPU time) and the speaker-finding face pass; their
sum bounds what 2 cores can do. The machine is shared: other load lowers the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import cv2

from dr2common.ffmpeg_tools import ffmpeg_exe
from dr2prep.keypoints.mediapipe_backend import (
    MediaPipeOptions,
    _FaceTask,
    _quiet_mediapipe,
    _solutions,
    detect_faces,
)
from dr2prep.keypoints.stage import KeypointSettings, run_keypoints_stage
from dr2prep.media import MediaSettings, prepare_media
from dr2common.progress import set_quiet

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "media" / "oliver_talkshow_7s.mp4"
GOAL_FPS = 30.0
PROBE_FRAMES = 90  # frames used for the per-part baseline rows


def looped_clip(video: Path, loops: int, workspace: Path) -> Path:
    looped = workspace / "looped.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(video),
                    "-c", "copy", str(looped)], check=True)  # fmt: skip
    clip = workspace / "clip720"
    prepare_media(looped, clip, MediaSettings())
    return clip


def time_stage(clip: Path, workers: int) -> float:
    start = time.perf_counter()
    run_keypoints_stage(clip, KeypointSettings(), force=True, workers=workers)
    return time.perf_counter() - start


def part_costs(frames: list[Path], width: int, height: int) -> dict[str, float]:
    """Milliseconds per frame of each part, in one process."""
    paths = [str(p) for p in frames[:PROBE_FRAMES]]
    start = time.perf_counter()
    images = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in paths]
    decode = (time.perf_counter() - start) / len(paths) * 1000
    with _quiet_mediapipe(), _solutions().holistic.Holistic(model_complexity=1, refine_face_landmarks=True) as holistic:
        holistic.process(images[0])  # model loading is not per-frame cost
        wall, cpu = time.perf_counter(), time.process_time()
        for image in images[1:]:
            holistic.process(image)
        wall = (time.perf_counter() - wall) / (len(images) - 1) * 1000
        cpu = (time.process_time() - cpu) / (len(images) - 1) * 1000
    start = time.perf_counter()
    detect_faces(_FaceTask(tuple(paths), width, height, 0.5))
    faces = (time.perf_counter() - start) / len(paths) * 1000
    return {
        "decode": decode,
        "holistic_wall": wall,
        "holistic_cpu": cpu,
        "face_pass": faces / MediaPipeOptions().face_stride,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="a 720p video of one person")
    parser.add_argument("--loops", type=int, default=2, help="play the video this many times (more segments to share)")
    args = parser.parse_args()
    if not args.video.is_file():
        raise SystemExit(f"{args.video} not found; give a 720p video of a person with --video")
    set_quiet(True)
    with tempfile.TemporaryDirectory() as tmp:
        clip = looped_clip(args.video, args.loops, Path(tmp))
        frames = sorted((clip / "frames").glob("*.jpg"))
        height, width = cv2.imread(str(frames[0])).shape[:2]
        parts = part_costs(frames, width, height)
        one = time_stage(clip, 1)
        two = time_stage(clip, 2)

    n = len(frames)
    load = os.getloadavg()[0]
    per_frame_cpu = parts["decode"] + parts["holistic_cpu"] + parts["face_pass"]
    print(f"keypoints stage (MediaPipe Holistic, complexity 1), {width}x{height}, {n} frames, {os.cpu_count()} CPUs, "
          f"segments of at most {MediaPipeOptions().max_segment_frames} frames, load average {load:.1f} at the end")
    print(f"{'what':<46}{'seconds':>9}{'frames/s':>10}{'ratio':>7}")
    print(f"{'stage, 1 worker':<46}{one:>9.1f}{n / one:>10.1f}{1.0:>7.2f}")
    print(f"{'stage, 2 workers':<46}{two:>9.1f}{n / two:>10.1f}{one / two:>7.2f}")
    print(f"{'goal (real time)':<46}{'':>9}{GOAL_FPS:>10.1f}")
    print(f"{'baseline parts, per frame, one process':<46}{'ms':>9}{'frames/s':>10}")
    print(f"{'  JPEG decode + RGB':<46}{parts['decode']:>9.1f}{1000 / parts['decode']:>10.1f}")
    print(f"{'  Holistic process(), wall':<46}{parts['holistic_wall']:>9.1f}{1000 / parts['holistic_wall']:>10.1f}")
    print(f"{'  Holistic process(), CPU time of all threads':<46}{parts['holistic_cpu']:>9.1f}")
    print(f"{'  face pass (every 5th frame), amortised':<46}{parts['face_pass']:>9.1f}")
    print(f"{'  CPU per frame; ceiling on 2 free cores':<46}{per_frame_cpu:>9.1f}{2000 / per_frame_cpu:>10.1f}")


if __name__ == "__main__":
    main()
