"""Whole `dr2 prep` of a real clip: seconds per stage, frames/s, real-time factor and peak RSS, 1 worker vs all.

Run: python benchmarks/bench_prep.py [VIDEO] [--workers 1 auto] [--loops 1] [--tmp DIR]
(default video: ../shared/media/speaker_tips_46s.mp4). Each configuration runs in a fresh workspace in its own process (as `dr2 prep` would), one after the
other in this run, so the ratios compare like with like. Peak RSS is the largest sum over the prep's
process tree (the keypoint workers included), sampled every 0.2 s. `--loops K` plays the video K
times (stream copy), for memory against length. The machine may be shared: the load average
(1 min) at the start and end of every row says how busy it was, its steal share (the CPU time the
host gave to other virtual machines) how shared the host was, and CPU seconds (which load
inflates far less than wall seconds) give an estimate of the idle machine's wall time.
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
STAGE_FILE = ".bench-stage"  # the child writes the stage it is in here
IDLE_CORES = 2  # the goal's machine
DEFAULT_VIDEO = ROOT.parent / "shared" / "media" / "speaker_tips_46s.mp4"
GOAL_REAL_TIME = 2.5  # whole prep within this many times the clip's duration (2-core machine, idle)


def cpu_seconds() -> tuple[float, float]:
    """(this process's user+sys, its finished children's user+sys) in seconds."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


def seconds_since_start() -> float:
    """Wall seconds since this process started (Linux /proc): Python's start-up and imports."""
    with open("/proc/self/stat") as f:
        started_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - started_ticks / os.sysconf("SC_CLK_TCK")


def measure(video: Path, workspace: Path, workers: int) -> None:
    """The child: run every stage of `dr2 prep` and print per-stage wall and CPU seconds as JSON.

    CPU seconds are user + sys of this process and of its finished children (the keypoint
    workers and ffmpeg), split as main / children: the estimate of an idle machine needs both.
    The stages that run beside keypoint detection (pipeline.BESIDE_KEYPOINTS, in a thread) get
    their own thread's CPU, and keypoints the rest of the process's CPU over its interval.
    The current main-line stage's name is kept in STAGE_FILE for the parent's per-stage peak RSS.
    """
    sys.path.insert(0, str(ROOT))
    from dr2prep.pipeline import BESIDE_KEYPOINTS, STAGES, PrepSettings, prepare_clip
    from dr2common.progress import set_quiet

    set_quiet(True)
    stage_file = workspace / STAGE_FILE
    began: dict[str, tuple[float, float, tuple[float, float]]] = {}
    # Start-up: the interpreter and the imports `dr2 prep` does before its first stage.
    stats: dict[str, dict[str, float]] = {"startup": {"wall": seconds_since_start(), "cpu_main": cpu_seconds()[0],
                                                      "cpu_children": 0.0}}
    started = time.perf_counter() - stats["startup"]["wall"]

    def start(stage: str) -> None:
        began[stage] = (time.perf_counter(), time.thread_time(), cpu_seconds())
        if stage not in BESIDE_KEYPOINTS:
            stage_file.write_text(stage)

    def done(stage: str) -> None:
        wall0, thread0, (main0, children0) = began[stage]
        main, children = cpu_seconds()
        stats[stage] = {"wall": time.perf_counter() - wall0, "cpu_main": main - main0,
                        "cpu_children": children - children0, "thread": time.thread_time() - thread0}

    clip_dir = prepare_clip(video, workspace, settings=PrepSettings(), workers=workers, on_stage_start=start,
                            on_stage_done=done)
    beside = [s for s in BESIDE_KEYPOINTS if s in stats]
    for stage in beside:
        stats[stage].update(cpu_main=stats[stage]["thread"], cpu_children=0.0, beside=True)
    if "keypoints" in stats:
        stats["keypoints"]["cpu_main"] = max(0.0, stats["keypoints"]["cpu_main"]
                                             - sum(stats[s]["cpu_main"] for s in beside))
    clip = json.loads((clip_dir / "clip.json").read_text())
    print(json.dumps({"stages": {s: stats[s] for s in ("startup", *STAGES) if s in stats},
                      "total": time.perf_counter() - started, "frames": clip["frames"],
                      "duration": clip["duration"], "width": clip["width"], "height": clip["height"]}))


def idle_seconds(stages: dict, workers: int, cores: int) -> dict[str, float]:
    """Estimated wall seconds of each stage on an idle machine with `cores` cores.

    The critical path: a process's own CPU runs serially; the keypoint workers' CPU spreads
    over min(workers, cores) cores; ffmpeg (media's child) over the cores. The stages beside
    keypoints fill the cores' spare time: their phase takes max(all its CPU / cores, the
    keypoints' critical path, the beside lane's CPU), and the beside stages count 0 unless
    their lane is the longer. Waiting on disk is not counted (a lower bound where a stage does
    I/O); one process that used several cores (MediaPipe's own threads) is counted as serial
    (an upper bound there).
    """
    estimate = {}
    for name, stage in stages.items():
        if stage.get("beside"):
            continue
        spread = cores if name == "media" else max(1, min(workers, cores))
        estimate[name] = stage["cpu_main"] + stage["cpu_children"] / spread
    beside = [name for name, stage in stages.items() if stage.get("beside")]
    if beside and "keypoints" in estimate:
        lane = sum(cpu(stages[s]) for s in beside)
        phase = max((cpu(stages["keypoints"]) + lane) / cores, estimate["keypoints"], lane)
        for s in beside:
            estimate[s] = 0.0
        estimate[beside[-1]] = phase - estimate["keypoints"]  # what the beside lane adds to keypoints' path
    return estimate


def machine_cpu_jiffies() -> tuple[int, int]:
    """(all CPU time, the part the hypervisor gave to other guests: "steal") of the whole machine, in
    clock ticks since boot (Linux /proc/stat). Steal is time this machine's cores wanted and did not get."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values[:8]), values[7]


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


def run_config(video: Path, workers: int, workspace_root: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-prep-", dir=workspace_root) as workspace:
        load_before = os.getloadavg()[0]
        total_before, steal_before = machine_cpu_jiffies()
        child = subprocess.Popen([sys.executable, __file__, "--measure", str(video), workspace, str(workers)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        peak, stage_peaks = 0, {}
        stage_file = Path(workspace) / STAGE_FILE
        while child.poll() is None:
            rss = tree_rss_bytes(child.pid)
            peak = max(peak, rss)
            try:
                stage = stage_file.read_text()
            except OSError:
                stage = ""
            if stage:
                stage_peaks[stage] = max(stage_peaks.get(stage, 0), rss)
            time.sleep(SAMPLE_SECONDS)
        out, err = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"prep with {workers} workers failed:\n{err[-3000:]}")
        result = json.loads(out.strip().splitlines()[-1])
        total_after, steal_after = machine_cpu_jiffies()
        result.update(workers=workers, peak_rss_mib=peak / 2**20, load_before=load_before,
                      steal_share=(steal_after - steal_before) / max(1, total_after - total_before),
                      load_after=os.getloadavg()[0], stage_peak_rss_mib={k: v / 2**20 for k, v in stage_peaks.items()})
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
          f"{os.cpu_count()} CPUs visible; seconds per stage: wall / CPU (user+sys, children included)")
    print(f"{'workers':>7} " + " ".join(f"{s:>15}" for s in stages)
          + f" {'total wall/CPU':>15} {'frames/s':>8} {'x real':>6} {'peak MiB':>8} {'load before/after':>17}")
    for row in rows:
        cells = [f"{row['stages'][s]['wall']:.1f}/{cpu(row['stages'][s]):.1f}" for s in stages]
        total_cpu = sum(cpu(row["stages"][s]) for s in stages)
        print(f"{row['workers']:>7} " + " ".join(f"{c:>15}" for c in cells)
              + f" {row['total']:>7.1f}/{total_cpu:<7.1f} {row['frames'] / row['total']:>8.1f}"
              + f" {row['total'] / row['duration']:>6.2f} {row['peak_rss_mib']:>8.0f}"
              + f" {row['load_before']:>8.2f}/{row['load_after']:<8.2f} {100 * row['steal_share']:>7.1f}")
    print("peak RSS per stage (MiB, whole process tree): " + "; ".join(
        f"{row['workers']} workers: " + ", ".join(f"{s} {row['stage_peak_rss_mib'].get(s, 0):.0f}" for s in stages)
        for row in rows))
    beside = [s for s in stages if first["stages"][s].get("beside")]
    if beside:
        print(f"{', '.join(beside)} ran beside keypoints (a thread): their wall overlaps keypoints', their CPU is "
              f"their thread's; peak RSS while they ran is in keypoints'")
    print(f"\nestimated idle {IDLE_CORES}-core wall seconds (idle_seconds: each process's own CPU serial, keypoint "
          f"workers' over min(workers, {IDLE_CORES}) cores, the stages beside keypoints in its spare time):")
    for row in rows:
        estimate = idle_seconds(row["stages"], row["workers"], IDLE_CORES)
        total = sum(estimate.values())
        print(f"{row['workers']:>7} " + " ".join(f"{s} {v:.1f}" for s, v in estimate.items())
              + f" | total {total:.1f} s = {total / row['duration']:.2f}x real time"
              + f" ({'meets' if total / row['duration'] <= GOAL_REAL_TIME else 'misses'} the {GOAL_REAL_TIME}x goal)")
    base = rows[0]
    for row in rows[1:]:
        ratios = ", ".join(f"{s} {base['stages'][s]['wall'] / max(row['stages'][s]['wall'], 1e-9):.2f}x"
                           for s in stages)
        print(f"wall speed-up of {row['workers']} workers over {base['workers']} in this run: whole prep "
              f"{base['total'] / row['total']:.2f}x ({ratios})")
    best = min(rows, key=lambda r: r["total"])
    print(f"measured: best whole prep {best['total'] / best['duration']:.2f}x the clip's duration "
          f"(load above 0 means other work shared the cores; steal above 0, that the host gave part of them to "
          f"other machines)")


def cpu(stage: dict) -> float:
    return stage["cpu_main"] + stage["cpu_children"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, nargs="?")
    parser.add_argument("--workers", nargs="+", default=["1", "auto"], help="worker counts to compare (first = baseline)")
    parser.add_argument("--loops", type=int, default=1, help="play the video this many times")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the workspaces (default: the system's)")
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
            rows.append(run_config(video, resolve_workers(workers), args.tmp))
            print(f"  {rows[-1]['workers']} workers: {rows[-1]['total']:.1f} s", flush=True)
    print_table(rows)
    print("raw rows (JSON): " + json.dumps(rows))
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
