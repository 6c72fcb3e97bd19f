"""`dr2 prep`: the stages in order, run under the clip's lock.

Each stage function is called with explicit inputs and settings; this module
only decides which stages run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dr2prep.audio import AudioFeatureSettings, run_audio_features_stage
from dr2common.errors import Dr2Error
from dr2common.device import resolve_device
from dr2prep.fitting.settings import FitSettings
from dr2prep.keypoints.stage import KeypointSettings, run_keypoints_stage
from dr2prep.media import MediaSettings, check_same_source, check_video_file, prepare_media
from dr2common.progress import warn
from dr2prep.shots import run_shots_stage
from dr2prep.stage import clip_lock, read_record
from dr2prep.workspace import check_clip_name, clip_name, open_workspace

from dr2prep.choices import STAGES  # noqa: E402  (defined once, light for the CLI)
# Stages that need only the media: they run in a thread beside keypoint detection (which is
# the long part and leaves the other core partly free), so they cost no time of their own.
# They write only their own folders, so the results are those of running them in order.
BESIDE_KEYPOINTS = ("shots", "audio_features")


@dataclass(frozen=True)
class PrepSettings:
    media: MediaSettings = field(default_factory=MediaSettings)
    keypoints: KeypointSettings = field(default_factory=KeypointSettings)
    fit: FitSettings = field(default_factory=FitSettings)
    smplx_model: str | None = None  # "open", an SMPL-X .npz, or None: $DR2_SMPLX_MODEL, else open
    audio_features: AudioFeatureSettings = field(default_factory=AudioFeatureSettings)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, e.g. a Slurm allocation), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | str, jobs: int = 1) -> int:
    """`--workers`: a number, or "auto" for this job's share of the cores (all of them for one job)."""
    if workers == "auto":
        return max(1, available_cores() // max(1, jobs))
    try:
        count = int(workers)
    except (TypeError, ValueError):
        raise Dr2Error(f"--workers must be a whole number or 'auto' (got {workers!r})") from None
    if count < 1:
        raise Dr2Error(f"--workers must be at least 1 (got {count})")
    return count


def select_stages(until: str | None, only: str | None) -> tuple[str, ...]:
    if until and only:
        raise Dr2Error("--until and --only exclude each other; give one of them")
    if only:
        return (only,)
    if until:
        return STAGES[: STAGES.index(until) + 1]
    return STAGES


def prepare_clip(
    video: Path,
    workspace: Path,
    clip: str | None = None,
    until: str | None = None,
    only: str | None = None,
    force: bool = False,
    settings: PrepSettings = PrepSettings(),
    device: str = "cpu",
    workers: int = 1,
    overlay: bool = False,
    replace: bool = False,
    on_stage_done: Callable[[str], None] | None = None,
    on_stage_start: Callable[[str], None] | None = None,
) -> Path:
    """Run the selected stages of `dr2 prep` on one video; returns the clip directory.

    A clip already prepared from another video is refused unless `replace`
    (which discards it first). `on_stage_start(stage)` and `on_stage_done(stage)`
    are called, in the thread that runs it, before and after each stage
    (done: run or up to date); BESIDE_KEYPOINTS stages run in a second thread
    while keypoints are detected. `device` is "auto", "cpu" or "cuda"; "cuda"
    is checked before any work, "auto" is resolved beside keypoint detection.
    """
    stages = select_stages(until, only)
    if device != "auto":
        resolve_device(device)  # a bad name, or CUDA asked for and absent: one line before any work
    name = check_clip_name(clip if clip is not None else clip_name(video))
    if "media" in stages:
        check_video_file(video)
    clip_dir = open_workspace(workspace) / name
    with clip_lock(clip_dir):
        if "media" in stages or Path(video).is_file():  # later stages alone may run after the video is gone
            check_same_source(video, clip_dir, replace)

        def run(stage: str) -> None:
            if on_stage_start is not None:
                on_stage_start(stage)
            if stage == "media":
                prepare_media(video, clip_dir, settings.media, force=force)
                _check_speech(clip_dir, needed=stages[-1] != "media")
            elif stage == "shots":
                run_shots_stage(clip_dir, force=force)
            elif stage == "keypoints":
                run_keypoints_stage(clip_dir, settings.keypoints, force=force, workers=workers, overlay=overlay)
            elif stage == "smplx":
                from dr2prep.bodymodel.loading import load_body_model
                from dr2prep.fitting.stage import run_fit_stage

                body = load_body_model(settings.smplx_model)
                run_fit_stage(clip_dir, body, settings.fit, device=resolved_device(), force=force, overlay=overlay,
                              workers=workers)
            elif stage == "audio_features":
                run_audio_features_stage(clip_dir, settings.audio_features, force=force, device=resolved_device())
            if on_stage_done is not None:
                on_stage_done(stage)

        warm_up = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-up")
        device_future = []  # the resolved device, once the warm-up has started

        def start_warm_up(fit_stage: bool = False) -> None:
            """torch's import (which resolving "auto" needs) and, with `fit_stage`, what the fit imports on
            its first call (together about 4 s of one core): in a thread beside keypoint detection, whose
            own process then only waits. Beside ffmpeg instead, the imports held the GIL and slowed the
            media stage's end by 2-3 s."""
            if not device_future:
                device_future.append(warm_up.submit(resolve_device, device))
                if fit_stage:
                    warm_up.submit(_warm_up_fit_stage)

        def resolved_device() -> str:
            start_warm_up()
            return device_future[0].result()

        beside = [s for s in stages if s in BESIDE_KEYPOINTS] if "keypoints" in stages else []
        with warm_up:
            for stage in stages:
                if stage in beside:
                    continue
                if stage == "keypoints":
                    # the fit's imports only where detection will run to hide them (not on a re-run)
                    start_warm_up(fit_stage="smplx" in stages and (force or read_record(clip_dir, stage) is None))
                    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="beside-keypoints") as pool:
                        finished = pool.submit(lambda: [run(s) for s in beside])
                        try:
                            run(stage)
                        finally:  # a failure of either is reported only once both have stopped
                            error = finished.exception()
                    if error is not None:
                        raise error
                else:
                    run(stage)
    return clip_dir


def _warm_up_fit_stage() -> None:
    """The fit stage's module imports torch: imported only here, in the warm-up thread."""
    from dr2prep.fitting.stage import warm_up_fit_stage

    warm_up_fit_stage()


def fit_clip(clip_dir: Path, settings: FitSettings, smplx_model: str | None = None, device: str = "cpu",
             force: bool = False, overlay: bool = False, workers: int | None = None) -> Path:
    """`dr2 fit-smplx`: (re)run only the SMPL-X fit of a prepared clip (`workers`: default all the cores)."""
    clip_dir = Path(clip_dir)
    check_clip_name(clip_dir.name)
    if not (clip_dir / "clip.json").is_file():
        raise Dr2Error(f"{clip_dir} is not a clip prepared by `dr2 prep`; give WORKSPACE/CLIP or a clip name")
    from dr2prep.bodymodel.loading import load_body_model
    from dr2prep.fitting.stage import run_fit_stage

    body = load_body_model(smplx_model)
    with clip_lock(clip_dir):
        if read_record(clip_dir, "media") is not None:  # clips prepared before shot detection get it here
            run_shots_stage(clip_dir)
        run_fit_stage(clip_dir, body, settings, device=device, force=force, overlay=overlay,
                      workers=available_cores() if workers is None else workers)
    return clip_dir


def _check_speech(clip_dir: Path, needed: bool) -> None:
    """Training needs speech: stop right after the frames when the video has no sound."""
    clip = json.loads((clip_dir / "clip.json").read_text())
    if clip["audio"] is not None:
        return
    message = (f"{clip['source']} has no audio track; its {clip['frames']} frames are kept in {clip_dir / 'frames'}, "
               f"but training needs the speech: give the video with its sound")
    if needed:
        raise Dr2Error(message)
    warn(message)
