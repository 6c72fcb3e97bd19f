"""Whole `dr2 prep` of a real clip: seconds per stage, frames/s, real-time factor and peak RSS, 1 worker vs all.

Run: python benchmarks/bench_prep.py [VIDEO] [--workers 1 auto] [--loops 1]   (default: ../shared/media/speaker_tips_46s.mp4)
Each configuration runs in a fresh workspace in its own process (as `dr2 prep` would), one after the
other in this run, so the ratios compare like with like. Peak RSS is the largest sum over the prep's
process tree (the keypoint workers included), sampled every 0.2 s. `--loops K` plays the video K
times (stream copy), for memory against length. The machine may be shared: the load average
(1 min) at the start and end of every row says how busy it was; figures on an idle machine are better.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.2
DEFAULT_VIDEO = ROOT.parent / "shared" / "media" / "speaker_tips_46s.mp4"
GOAL_REAL_TIME = 2.5  # whole prep within this many times the clip's duration (2-core machine, idle)


def measure(video: Path, workspace: Path, workers: int) -> None:
    """The child: run every stage of `dr2 prep` and print per-stage seconds as JSON."""
    sys.path.insert(0, str(ROOT))
    from dr2prep.pipeline import PrepSettings, prepare_clip
    from dr2common.progress import set_quiet

    set_quiet(True)
    seconds: dict[str, float] = {}
    started = last = time.perf_counter()

    def done(stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        seconds[stage] = now - last
        last = now

    clip_dir = prepare_clip(video, workspace, settings=PrepSettings(), workers=workers, on_stage_done=done)
    clip = json.loads((clip_dir / "clip.json").read_text())
    print(json.dumps({"stages": seconds, "total": time.perf_counter() - started, "frames": clip["frames"],
                      "duration": clip["duration"], "width": clip["width"], "height": clip["height"]}))


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_config(video: Path, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-prep-") as workspace:
        load_before = os.getloadavg()[0]
        child = subprocess.Popen([sys.executable, __file__, "--measure", str(video), workspace, str(workers)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        peak = 0
        while child.poll() is None:
            peak = max(peak, tree_rss_bytes(child.pid))
            time.sleep(SAMPLE_SECONDS)
        out, err = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"prep with {workers} workers failed:\n{err[-3000:]}")
        result = json.loads(out.strip().splitlines()[-1])
        result.update(workers=workers, peak_rss_mib=peak / 2**20, load_before=load_before,
                      load_after=os.getloadavg()[0])
        return result


def looped(video: Path, loops: int, folder: Path) -> Path:
    from dr2common.ffmpeg_tools import ffmpeg_exe

    out = folder / f"{video.stem}_x{loops}{video.suffix}"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(video),
                    "-c", "copy", str(out)], check=True)  # fmt: skip
    return out


def print_table(rows: list[dict]) -> None:
    stages = list(rows[0]["stages"])
    first = rows[0]
    print(f"\n{first['width']}x{first['height']}, {first['frames']} frames, {first['duration']:.1f} s of video, "
          f"{os.cpu_count()} CPUs visible")
    header = (f"{'workers':>7} " + " ".join(f"{s:>14}" for s in stages)
              + f" {'total s':>8} {'frames/s':>8} {'x real time':>11} {'peak RSS MiB':>12} {'load 1m before/after':>20}")
    print(header)
    for row in rows:
        print(f"{row['workers']:>7} " + " ".join(f"{row['stages'][s]:>14.1f}" for s in stages)
              + f" {row['total']:>8.1f} {row['frames'] / row['total']:>8.1f} {row['total'] / row['duration']:>11.2f}"
              + f" {row['peak_rss_mib']:>12.0f} {row['load_before']:>9.2f} / {row['load_after']:<8.2f}")
    base = rows[0]
    for row in rows[1:]:
        ratios = ", ".join(f"{s} {base['stages'][s] / max(row['stages'][s], 1e-9):.2f}x" for s in stages)
        print(f"speed-up of {row['workers']} workers over {base['workers']}: whole prep "
              f"{base['total'] / row['total']:.2f}x ({ratios})")
    best = min(rows, key=lambda r: r["total"])
    verdict = "meets" if best["total"] / best["duration"] <= GOAL_REAL_TIME else "misses"
    print(f"goal: whole prep <= {GOAL_REAL_TIME}x the clip's duration on an idle 2-core machine; best here "
          f"{best['total'] / best['duration']:.2f}x ({verdict}; load above 0 means other work shared the cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, nargs="?")
    parser.add_argument("--workers", nargs="+", default=["1", "auto"], help="worker counts to compare (first = baseline)")
    parser.add_argument("--loops", type=int, default=1, help="play the video this many times")
    parser.add_argument("--measure", nargs=3, metavar=("VIDEO", "WORKSPACE", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(Path(args.measure[0]), Path(args.measure[1]), int(args.measure[2]))
        return
    if args.video is None:
        if not DEFAULT_VIDEO.is_file():
            print(f"bench_prep: skipped, {DEFAULT_VIDEO} is absent (give a VIDEO)")
            return
        args.video = DEFAULT_VIDEO
    if not args.video.is_file():
        parser.error(f"{args.video} is not a file; give the path of a video")
    sys.path.insert(0, str(ROOT))
    from dr2prep.pipeline import resolve_workers

    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    with tempfile.TemporaryDirectory(prefix="bench-prep-video-") as folder:
        video = looped(args.video.resolve(), args.loops, Path(folder)) if args.loops > 1 else args.video.resolve()
        rows = []
        for workers in args.workers:
            rows.append(run_config(video, resolve_workers(workers)))
            print(f"  {rows[-1]['workers']} workers: {rows[-1]['total']:.1f} s", flush=True)
    print_table(rows)
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
