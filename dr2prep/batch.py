"""`dr2 prep` over many videos: each video its own clip, N at once, failures kept apart, a summary at the end.

A folder stands for the videos directly inside it. `--shard K/N` keeps the K-th
of N contiguous slices of the sorted list, so the jobs of a cluster array each
prepare their own part of a corpus with nothing to coordinate. Every video runs
in a process of its own: a crash (even of MediaPipe's native code) ends only
that video, and the others go on.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import re
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from dr2common.errors import Dr2Error
from dr2common.progress import is_quiet, progress_bar, say, set_quiet
from dr2prep.workspace import clip_name, open_workspace

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
ERROR_LOG = "prep-error.log"  # in the clip folder of a video that failed: the full traceback
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class VideoResult:
    """How one video's prep went: the stages that finished (ran or were up to date), and the error if any."""

    video: Path
    clip: str
    stages_done: tuple[str, ...]
    seconds: float
    error: str | None = None


def find_videos(paths: list[Path]) -> list[Path]:
    """The videos named by `paths` (files as given, folders by the video files directly inside), sorted."""
    videos: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
            if not found:
                raise Dr2Error(f"folder {path} holds no video files ({', '.join(VIDEO_SUFFIXES)}); give videos or "
                               f"a folder of them")
            videos += found
        elif path.is_file():
            videos.append(path)
        else:
            raise Dr2Error(f"{path} does not exist; give video files or folders of them")
    return sorted(dict.fromkeys(p.resolve() for p in videos))


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise Dr2Error(f"--shard must be K/N with 1 <= K <= N, e.g. 2/8 (got {text!r}); with Slurm: "
                       f"--array=1-N and --shard $SLURM_ARRAY_TASK_ID/N")
    return int(match[1]), int(match[2])


def shard(videos: list[Path], k: int, n: int) -> list[Path]:
    """The K-th (1-based) of N contiguous slices of the sorted list; slices differ in length by at most one."""
    ordered = sorted(videos)
    start, end = (k - 1) * len(ordered) // n, k * len(ordered) // n
    return ordered[start:end]


def clip_names(videos: list[Path]) -> list[str]:
    """One clip per video, named after its file; two videos that would share a clip are refused up front."""
    names = [clip_name(v) for v in videos]
    seen: dict[str, Path] = {}
    for video, name in zip(videos, names):
        if name in seen:
            raise Dr2Error(f"{seen[name]} and {video} would both become clip {name!r}; rename one of them "
                           f"(or prepare it alone with --clip NAME)")
        seen[name] = video
    return names


def _prepare_one(video: Path, workspace: Path, clip: str, options: dict, quiet: bool, report) -> None:
    """In a child process: prepare one video, sending ("stage", name) as stages finish and ("error", text) on failure."""
    set_quiet(quiet)
    from dr2prep.pipeline import prepare_clip

    sending = threading.Lock()  # stages beside keypoints finish in another thread

    def stage_done(stage: str) -> None:
        with sending:
            report.send(("stage", stage))

    try:
        prepare_clip(video, workspace, clip=clip, on_stage_done=stage_done, **options)
    except Dr2Error as error:
        report.send(("error", str(error)))
    except Exception as error:  # noqa: BLE001 - any failure of one video must not stop the others
        log = Path(workspace) / clip / ERROR_LOG
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc())
            where = f" (traceback in {log})"
        except OSError:
            where = ""
        report.send(("error", f"{type(error).__name__}: {error}{where}"))
    finally:
        report.close()


@dataclass
class _Running:
    """A video being prepared: its process, the pipe its progress comes through, what it reported so far."""

    video: Path
    clip: str
    process: multiprocessing.Process
    pipe: multiprocessing.connection.Connection
    started: float
    stages: list[str]
    error: str | None = None

    def drain(self) -> None:
        while self.pipe.poll():
            try:
                kind, value = self.pipe.recv()
            except (EOFError, OSError):
                return
            if kind == "stage":
                self.stages.append(value)
            else:
                self.error = value


def prepare_videos(videos: list[Path], workspace: Path, jobs: int = 1, **options) -> list[VideoResult]:
    """Prepare each video as its own clip, `jobs` at a time; returns one result per video, in order.

    `options` are `prepare_clip`'s (until, only, force, settings, device, workers, overlay).
    """
    workspace = open_workspace(workspace)
    names = clip_names(videos)
    context = multiprocessing.get_context("spawn")  # MediaPipe and torch are not fork-safe
    child_quiet = is_quiet() or jobs > 1  # several videos' progress bars would garble each other
    pending = list(zip(videos, names))
    running: list[_Running] = []
    results: dict[Path, VideoResult] = {}
    bar = progress_bar(total=len(videos), desc="videos", unit="video", leave=True)
    try:
        while pending or running:
            while pending and len(running) < jobs:
                video, clip = pending.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_prepare_one, args=(video, workspace, clip, options, child_quiet, send),
                                          name=f"dr2-prep-{clip}")
                process.start()
                send.close()
                running.append(_Running(video, clip, process, receive, time.perf_counter(), []))
            time.sleep(POLL_SECONDS)
            for job in list(running):
                job.drain()
                if job.process.is_alive():
                    continue
                job.process.join()
                job.drain()
                error = job.error
                if error is None and job.process.exitcode != 0:
                    error = f"the prep process died (exit code {job.process.exitcode})"
                result = VideoResult(job.video, job.clip, tuple(job.stages), time.perf_counter() - job.started, error)
                results[job.video] = result
                running.remove(job)
                bar.update(1)
                say(f"{job.clip}: {'failed: ' + error if error else 'done'} ({result.seconds:.0f} s)")
    finally:  # interrupted: stop the videos still running (their finished stages are kept)
        bar.close()
        for job in running:
            job.process.terminate()
            job.process.join()
    return [results[v] for v in videos]


def summary_table(results: list[VideoResult], stages_selected: tuple[str, ...]) -> str:
    """The table that ends a many-video run: clip, stages done, seconds, error."""
    rows = [("clip", "stages done", "seconds", "error")]
    for r in results:
        stages_done = [s for s in stages_selected if s in r.stages_done]  # the order of the pipeline, not of finishing
        done = f"{len(stages_done)}/{len(stages_selected)}" + (f" ({', '.join(stages_done)})" if stages_done else "")
        rows.append((r.clip, done, f"{r.seconds:.1f}", r.error or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    failed = sum(1 for r in results if r.error)
    lines.append(f"{len(results) - failed} of {len(results)} videos prepared" + (f", {failed} failed" if failed else ""))
    return "\n".join(line.rstrip() for line in lines)
