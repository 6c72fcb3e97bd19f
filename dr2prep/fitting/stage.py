"""The SMPL-X fitting stage: keypoints.npz -> smplx/params.npz + smplx/report.json (+ overlay.mp4).

Resumable: the reference fit and every chunk of fitted frames are committed to
the stage's partial directory as they finish, so a crash loses at most one
chunk, and a re-run with the same inputs and settings continues from there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from dr2prep.bodymodel.loading import BodyModel
from dr2prep.bodymodel.openpose_correspondence import BODY
from dr2common.errors import Dr2Error
from dr2prep.fitting import metrics
from dr2prep.fitting.camera import image_center
from dr2prep.fitting.fit import (
    MODES,
    FitSettings,
    ReferenceFit,
    clip_objective,
    fit_reference_frames,
    fit_sequence,
    load_pose_prior,
)
from dr2prep.fitting.objective import reprojection_error_px, to_translation
from dr2prep.fitting.params_file import PARAMS_NAME, save_params
from dr2prep.fitting.smoothing import low_pass_fit
from dr2prep.keypoints.openpose_format import load_keypoints
from dr2common.low_pass import cutoff_problem
from dr2common.progress import progress_bar, say
from dr2prep.shots import read_cuts, shot_ranges
from dr2common.atomic import savez_atomic, write_json_atomic
from dr2prep.stage import StageOutcome, StageSpec, run_stage, upstream_fingerprint
from dr2common.rates import FPS
from dr2common.quick_exit import exit_quickly_when_done
from dr2common.side_by_side import share_out

SMPLX_STAGE = StageSpec(name="smplx", version="4", outputs=("smplx",), resumable=True)
REPORT_NAME = "report.json"
CHUNK_FRAMES = 128  # frames per committed chunk (rounded to whole windows)
SHOT_GROUPS_PER_WORKER = 8  # ranges of shots per fit worker: smaller ranges even out the workers' loads
# A fit worker's start-up (a spawned process importing torch, building its objective) costs about what
# ~200 frames of fitting do: fewer frames than this per worker would be slower, not faster (5 s clip: measured).
FIT_FRAMES_PER_WORKER = 300
EVALUATION_BATCH = 256  # frames per batch when measuring the finished fit


def check_settings(settings: FitSettings) -> None:
    """Refuse settings that cannot fit anything, before any work."""
    problems = []
    if settings.mode not in MODES:
        problems.append(f"--mode must be one of {', '.join(MODES)} (got {settings.mode!r})")
    if not settings.focal_length > 0:
        problems.append(f"--focal-length must be positive (got {settings.focal_length})")
    if settings.motion_weight < 0 or settings.translation_motion_weight < 0:
        problems.append("motion weights must not be negative")
    if settings.window < 1 or settings.iterations < 1 or settings.first_frame_iterations < 1:
        problems.append("--window and the fit's iterations must be at least 1")
    if settings.reference_frames < 1:
        problems.append("the fit's reference_frames must be at least 1")
    if (problem := cutoff_problem(settings.low_pass_hz, FPS)) is not None:
        problems.append(problem)
    if problems:
        raise Dr2Error("; ".join(problems))


def run_fit_stage(
    clip_dir: Path,
    body: BodyModel,
    settings: FitSettings = FitSettings(),
    device: str = "cpu",
    force: bool = False,
    overlay: bool = False,
    workers: int = 1,
) -> StageOutcome:
    """Fit SMPL-X to the clip's keypoints (temporally regularised SMPLify-X); skipped when up to date.

    `device` is "cpu" or "cuda" (already resolved). `overlay` also writes smplx/overlay.mp4
    (outside the cached outputs, so asking for it never re-runs the fit). On the CPU, `workers`
    processes fit the clip's shots side by side (each shot is its own sequence, so the result
    does not depend on the number).
    """
    clip_dir = Path(clip_dir)
    check_settings(settings)
    if settings.vposer:  # recorded absolute, so the cache does not depend on the working directory
        settings = dataclasses.replace(settings, vposer=str(Path(settings.vposer).expanduser().resolve()))
    inputs = {"keypoints": upstream_fingerprint(clip_dir, "keypoints", "smplx"), "body_model": body.fingerprint}
    vposer = load_pose_prior(settings, device)
    if vposer is not None:
        inputs["vposer"] = module_fingerprint(vposer)
    cuts = read_cuts(clip_dir)
    if cuts:  # only then: a clip without cuts keeps the fit it had before shot detection existed
        inputs["cuts"] = cuts
    track = load_keypoints(clip_dir)
    clip = json.loads((clip_dir / "clip.json").read_text())

    def build(partial: Path) -> dict:
        with cpu_threads(1 if device == "cpu" else None):
            return _fit_clip(partial, body, track.keypoints, track.image_size, float(clip.get("fps", FPS)), settings,
                             device, vposer, cuts, workers if device == "cpu" else 1)

    outcome = run_stage(clip_dir, SMPLX_STAGE, inputs, settings, build, force=force)
    if overlay:
        from dr2prep.fitting.overlay import make_fit_overlay

        make_fit_overlay(clip_dir, body)
    return outcome


@contextlib.contextmanager
def cpu_threads(count: int | None):
    """Run torch's CPU ops on `count` threads (None: unchanged), then restore the setting.

    The fit's ops are small (one window of frames), so threads gain little, and torch's
    OpenMP workers spin when other processes share the cores: on the busy 2-core machine
    one thread fitted 23x faster than two. One thread also makes runs bit-reproducible.
    """
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def module_fingerprint(module: torch.nn.Module) -> str:
    """sha256 of a network's weights (names and values), whatever file they came from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode() + b"\0" + tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _reference(partial: Path, body, keypoints, image_size, settings, device, vposer) -> tuple[ReferenceFit, float]:
    """The reference fit, from the partial directory when an earlier run finished it."""
    path = partial / "reference.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            fit = ReferenceFit(data["frames"], data["betas"], data["global_orient"], data["x"], float(data["pixels_per_mm"]))
            return fit, float(data["seconds"])
    started = time.time()
    say(f"smplx: fitting the reference frame{'s' if settings.reference_frames > 1 else ''} (SMPLify-X)")
    fit = fit_reference_frames(body, keypoints, settings, image_size, device, vposer)
    seconds = time.time() - started
    savez_atomic(path, frames=fit.frames, betas=fit.betas, global_orient=fit.global_orient, x=fit.x,
                 pixels_per_mm=fit.pixels_per_mm, seconds=seconds)
    return fit, seconds


def _finished_chunks(chunk_dir: Path) -> list[dict]:
    """The committed chunks, in order, as long as they join up from frame 0."""
    chunks, expected = [], 0
    for path in sorted(chunk_dir.glob("chunk-*.npz")):
        with np.load(path, allow_pickle=False) as data:
            chunk = {key: data[key] for key in data.files}
        if int(chunk["start"]) != expected:
            break
        chunks.append(chunk)
        expected += len(chunk["x"])
    return chunks


@dataclass(frozen=True)
class _FitJob:
    """What every process fitting part of a clip needs (sent once to each helper, as it starts)."""

    body: BodyModel
    keypoints: np.ndarray
    settings: FitSettings
    image_size: tuple
    device: str
    vposer: torch.nn.Module | None
    cuts: tuple
    chunk_frames: int


_WORKER: dict = {}  # in a fit helper process: its job, and the objective built from it once


def warm_up_torch() -> None:
    """Import what torch loads on the fit's first call: torch._dynamo, which many ops pull in lazily.

    That import takes 1.5-3 s of one core; each fit helper does it as it starts, beside the
    reference fit (which runs on one core).
    """
    import torch._dynamo  # noqa: F401


def warm_up_fit_stage() -> None:
    """Import, beside keypoint detection (its own process only waits), what the fit stage would
    otherwise import on its critical path with the other core idle: torch._dynamo (1.5-3 s) before
    the reference fit, and scipy.signal (about 1 s) for the low-pass of the finished fit."""
    warm_up_torch()
    import scipy.signal  # noqa: F401


def _start_fit_worker(job: _FitJob) -> None:
    exit_quickly_when_done()
    torch.set_num_threads(1)  # as the stage does in its own process
    _WORKER["job"] = job
    warm_up_torch()


def _worker_ready() -> None:
    """A no-op task: submitting it makes the pool start a helper now (spawned helpers start on demand)."""


def _fit_in_worker(reference: ReferenceFit, start: int, end: int, previous) -> list[dict]:
    """In a fit helper: frames [start, end) as chunk records."""
    job = _WORKER["job"]
    if "objective" not in _WORKER:
        _WORKER["objective"] = clip_objective(job.body, reference, job.settings, job.image_size, job.device,
                                              job.vposer)
    return list(_fit_chunks(job, _WORKER["objective"], reference, start, end, previous))


def _fit_chunks(job: _FitJob, objective, reference: ReferenceFit, start: int, end: int, previous) -> Iterator[dict]:
    """Frames [start, end) (start at a chunk's end or a cut) as chunk records, yielded as they finish."""
    started = time.time()
    for chunk in fit_sequence(objective, job.keypoints, reference, job.settings, job.device, start, previous,
                              job.chunk_frames, cuts=job.cuts, end=end):
        yield {"start": chunk.start, "x": chunk.x, "loss": chunk.loss, "seconds": time.time() - started}
        started = time.time()


def _start_helpers(job: _FitJob, count: int) -> tuple[ProcessPoolExecutor, threading.Thread]:
    """`count` spawned fit helpers, and the thread starting them.

    Starting a spawned helper blocks the caller until the helper has imported torch and read the
    job (about 2 s), so a thread does it: the reference fit, on one core, starts at once and the
    helpers start beside it.
    """
    pool = ProcessPoolExecutor(max_workers=count, mp_context=get_context("spawn"), initializer=_start_fit_worker,
                               initargs=(job,))

    def start_all() -> None:
        # A helper that cannot start raises again when the fit sends it work, in the fit's own thread.
        with contextlib.suppress(Exception):
            for _ in range(count):
                pool.submit(_worker_ready)

    starter = threading.Thread(target=start_all, name="fit-helpers-start")
    starter.start()
    return pool, starter


def _fit_groups(job: _FitJob, objective, reference: ReferenceFit, groups, pool: ProcessPoolExecutor, helpers: int,
                first_start: int, previous, commit) -> None:
    """Fit ranges of whole shots side by side: this process and each of `helpers` pool processes
    take the next range when free. Which process fits a range does not change it (each range is
    its own sequence, on one thread). The longest ranges go first, so the workers finish close together."""
    lock = threading.Lock()

    def fit_here(group) -> None:
        a, b = group
        for chunk in _fit_chunks(job, objective, reference, a, b, previous if a == first_start else None):
            with lock:
                commit(chunk)

    def fit_in_pool(group) -> None:
        a, b = group
        for chunk in pool.submit(_fit_in_worker, reference, a, b, previous if a == first_start else None).result():
            with lock:  # committed as each range ends; a resume uses those joined from 0
                commit(chunk)

    share_out(sorted(groups, key=lambda group: group[0] - group[1]), [fit_here] + [fit_in_pool] * helpers)


def shot_groups(start: int, end: int, cuts, parts: int) -> list[tuple[int, int]]:
    """[a, b) ranges of whole shots covering [start, end), about `parts` of them with similar frame counts.

    Each range begins at `start` or at a cut, so it can be fitted apart from the others.
    """
    target = (end - start) / max(1, parts)
    groups, first = [], start
    for cut in sorted(c for c in cuts if start < c < end):
        if cut - first >= target:
            groups.append((first, cut))
            first = cut
    groups.append((first, end))
    return groups


def _fit_clip(partial: Path, body, keypoints, image_size, fps, settings: FitSettings, device, vposer,
              cuts=(), workers: int = 1) -> dict:
    frames = len(keypoints)
    cuts = [int(c) for c in cuts if 0 < int(c) < frames]
    step = settings.window if settings.mode == "window" else 1
    chunk_frames = max(1, round(CHUNK_FRAMES / step)) * step
    job = _FitJob(body, keypoints, settings, tuple(image_size), device, vposer, tuple(cuts), chunk_frames)
    chunk_dir = partial / "chunks"
    chunk_dir.mkdir(exist_ok=True)
    chunks = _finished_chunks(chunk_dir)
    start = sum(len(c["x"]) for c in chunks)
    workers = min(workers, (frames - start) // FIT_FRAMES_PER_WORKER)
    groups = shot_groups(start, frames, cuts, SHOT_GROUPS_PER_WORKER * workers) if workers > 1 else []
    # Helpers only where there are ranges of shots to share; this process is one of the workers.
    pool, starter = _start_helpers(job, workers - 1) if len(groups) > 1 else (None, None)
    try:
        reference, reference_seconds = _reference(partial, body, keypoints, image_size, settings, device, vposer)
        if start:
            say(f"smplx: resuming at frame {start} of {frames}")
        previous = chunks[-1]["x"][-1] if chunks else None
        bar = progress_bar(total=frames, initial=start, desc="smplx", unit="frame")
        seconds_before = sum(float(c["seconds"]) for c in chunks)  # of the chunks an earlier run finished
        started = time.time()
        new_chunks = []

        def commit(chunk: dict) -> None:
            savez_atomic(chunk_dir / f"chunk-{chunk['start']:08d}.npz", **chunk)
            bar.update(len(chunk["x"]))
            new_chunks.append(chunk)

        objective = clip_objective(body, reference, settings, image_size, device, vposer)
        if pool is not None:
            _fit_groups(job, objective, reference, groups, pool, workers - 1, start, previous, commit)
        else:
            for chunk in _fit_chunks(job, objective, reference, start, frames, previous):
                commit(chunk)
    finally:
        stopping = None
        if pool is not None:  # stopped from a thread, beside the low-pass below
            starter.join()
            stopping = threading.Thread(target=pool.shutdown, kwargs={"cancel_futures": True}, name="fit-helpers-stop")
            stopping.start()
    chunks += sorted(new_chunks, key=lambda c: c["start"])
    bar.close()
    fit_seconds = seconds_before + (time.time() - started)

    x = np.concatenate([c["x"] for c in chunks]).astype(np.float32)
    x = low_pass_fit(x, cuts, fps, settings.low_pass_hz, objective.layout)  # the chunks keep the raw fit
    loss = np.concatenate([c["loss"] for c in chunks])
    out_dir = partial / "smplx"
    out_dir.mkdir(exist_ok=True)
    params, quality = _outputs(objective, reference, x, loss, keypoints, image_size, fps, body, settings, cuts)
    save_params(out_dir / PARAMS_NAME, params)
    height = image_size[1]
    report = {
        "frames": frames,
        "mode": settings.mode,
        "model_kind": body.kind,
        "device": str(device),
        "reference_frames": [int(f) for f in reference.frames],
        "pixels_per_mm": round(reference.pixels_per_mm, 6),
        "reprojection_px": quality["all"],
        "reprojection_body_px": quality["body"],
        "reprojection_fraction_of_height": {k: None if v is None else _round(v / height)
                                            for k, v in quality["all"].items()},
        "detected_fraction": round(float(params["detected"].mean()), 4),
        "jitter_mm_per_frame2": round(quality["jitter"], 3),
        "translation_jitter": {k: round(v, 6) for k, v in _per_shot_translation_jitter(params["transl"], cuts).items()},
        "shots": {"cuts": cuts, "cut_times": [round(c / fps, 3) for c in cuts], "count": len(cuts) + 1,
                  "note": "each shot fitted as its own sequence (no warm start or motion loss across a cut); "
                          "jitter is measured within shots"},
        "seconds": {"reference": round(reference_seconds, 3), "frames": round(fit_seconds, 3),
                    "per_frame": round(fit_seconds / max(frames, 1), 5)},
        "frames_per_second": round(frames / max(fit_seconds, 1e-9), 2),
        "settings": dataclasses.asdict(settings),
    }
    write_json_atomic(out_dir / REPORT_NAME, report)
    if stopping is not None:
        stopping.join()  # the helpers have exited: none outlives the stage
    median = quality["all"]["median"]
    if median is not None:
        say(f"smplx: median reprojection error {median:.2f} px ({median / height:.2%} of the image height), "
            f"{report['frames_per_second']:.1f} frames/s")
    return {key: report[key] for key in ("frames", "mode", "reprojection_px", "jitter_mm_per_frame2", "frames_per_second")}


def _round(value, digits=5):
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _per_shot(values: np.ndarray, cuts, measure) -> float:
    """`measure` of each shot's frames, averaged with weights of the frames it covers (a cut is not motion)."""
    parts = [(measure(values[a:b]), b - a - 2) for a, b in shot_ranges(len(values), cuts) if b - a >= 3]
    total = sum(w for _, w in parts)
    return float(sum(m * w for m, w in parts) / total) if total else 0.0


def _per_shot_translation_jitter(transl: np.ndarray, cuts) -> dict[str, float]:
    return {key: _per_shot(transl, cuts, lambda t, key=key: metrics.translation_jitter(t)[key])
            for key in ("across_mm", "depth_fraction")}


def _outputs(objective, reference, x, loss, keypoints, image_size, fps, body, settings, cuts=()):
    """params.npz's arrays and the fit's quality figures."""
    layout = objective.layout
    frames = len(x)
    device = objective.device
    orient = torch.as_tensor(reference.global_orient[None], dtype=torch.float32, device=device)
    errors, body_errors, joints = [], [], []
    with torch.no_grad():
        for s in range(0, frames, EVALUATION_BATCH):
            batch = torch.as_tensor(x[s : s + EVALUATION_BATCH], device=device)
            target = torch.as_tensor(keypoints[s : s + EVALUATION_BATCH], device=device)
            _, projected = objective.points(batch, orient)
            errors.append(reprojection_error_px(projected, target).cpu().numpy())
            body_errors.append(reprojection_error_px(projected, target, points=BODY).cpu().numpy())
            joints.append(objective.joints(batch, orient).cpu().numpy())
        groups = layout.split(torch.as_tensor(x, device=device))
        left, right = layout.full_hands(groups)
        transl = to_translation(groups["transl"])
        body_pose = layout.body_pose(groups)
    reprojection = np.concatenate(errors)
    body_reprojection = np.concatenate(body_errors)
    zeros = np.zeros((frames, 3), np.float32)
    params = {
        "betas": reference.betas,
        "global_orient": np.tile(reference.global_orient, (frames, 1)),
        "transl": transl.cpu().numpy(),
        "body_pose": body_pose.cpu().numpy(),
        "jaw_pose": groups["jaw"].cpu().numpy(),
        "leye_pose": zeros,
        "reye_pose": zeros,
        "left_hand_pose": left.cpu().numpy(),
        "right_hand_pose": right.cpu().numpy(),
        "expression": groups["face"].cpu().numpy(),
        "focal_length": np.float32(settings.focal_length),
        "camera_center": np.asarray(image_center(image_size), np.float32),
        "image_size": np.asarray(image_size, np.int32),
        "loss": loss,
        "reprojection_px": reprojection,
        "detected": (keypoints[:, BODY, 2] > 0).any(axis=1),
        "reference_frames": np.asarray(reference.frames, np.int32),
        "model_kind": np.array(body.kind),
        "fps": np.float32(fps),
        "shot_starts": np.asarray(cuts, np.int32),  # first frame of every shot after the first
    }
    if layout.vposer is not None:
        params["vposer_code"] = groups["body_pose"].cpu().numpy()
    if layout.hand_pca is not None:
        params["left_hand_pca"] = groups["left_hand"].cpu().numpy()
        params["right_hand_pca"] = groups["right_hand"].cpu().numpy()

    def summary(values):
        finite = values[np.isfinite(values)]
        if not len(finite):
            return {"median": None, "mean": None}
        return {"median": _round(np.median(finite), 3), "mean": _round(finite.mean(), 3)}

    quality = {"all": summary(reprojection), "body": summary(body_reprojection),
               "jitter": _per_shot(np.concatenate(joints), cuts, metrics.jitter)}
    return params, quality
