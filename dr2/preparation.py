"""Preparing videos in Python: `prepare` (one video), `prepare_many` (several, a folder, a shard), `fit_smplx`.

Each builds the stage settings the way `dr2 prep` / `dr2 fit-smplx` do and
calls `dr2prep.pipeline` / `dr2prep.batch`; the CLI calls these functions.
"""

from __future__ import annotations

from pathlib import Path

from dr2prep import fit_defaults
from dr2prep.workspace import DEFAULT_WORKSPACE


def fit_settings(mode: str = fit_defaults.MODE, focal_length: float = fit_defaults.FOCAL_LENGTH,
                 motion_weight: float = fit_defaults.MOTION_WEIGHT, window: int = fit_defaults.WINDOW,
                 vposer: str | Path | None = None, low_pass_hz: float = fit_defaults.LOW_PASS_HZ):
    """`FitSettings` from the fit options `dr2 prep` and `dr2 fit-smplx` share (same defaults)."""
    from dr2prep.fitting.settings import FitSettings

    return FitSettings(mode=mode, focal_length=focal_length, motion_weight=motion_weight, window=window,
                       vposer=str(vposer or ""), low_pass_hz=low_pass_hz)


def prep_settings(keypoints: str = "mediapipe", keypoints_dir: str | Path | None = None,
                  openpose_models: str | Path | None = None, feature_kind: str | None = None,
                  deepspeech_graph: str | Path | None = None, smplx_model: str | None = None, fit=None):
    """`PrepSettings` from `dr2 prep`'s options; `fit` is a `FitSettings` (default: `fit_settings()`)."""
    from dr2.defaults import audio_feature_settings
    from dr2prep.keypoints.stage import KeypointSettings
    from dr2prep.pipeline import PrepSettings

    keypoint_settings = KeypointSettings(backend=keypoints, import_dir=str(keypoints_dir or ""),
                                         openpose_models=str(openpose_models or ""))
    audio = audio_feature_settings(feature_kind, deepspeech_graph)
    return PrepSettings(keypoints=keypoint_settings, audio_features=audio, smplx_model=smplx_model,
                        fit=fit if fit is not None else fit_settings())


def prepare(video: str | Path, workspace: str | Path = DEFAULT_WORKSPACE, clip: str | None = None,
            until: str | None = None, only: str | None = None, force: bool = False, replace: bool = False,
            keypoints: str = "mediapipe", keypoints_dir: str | Path | None = None,
            openpose_models: str | Path | None = None, workers: int | str = "auto", overlay: bool = False,
            feature_kind: str | None = None, deepspeech_graph: str | Path | None = None,
            smplx_model: str | None = None, fit=None, device: str = "auto") -> Path:
    """`dr2 prep VIDEO`: frames + audio, shots, keypoints, SMPL-X fit, audio features; returns the clip directory.

    Stages already done with the same inputs and settings are skipped. `fit`
    is a `FitSettings` (see `fit_settings`); `smplx_model` is "open", an
    SMPL-X .npz, or None for $DR2_SMPLX_MODEL / the open body.
    """
    from dr2prep.pipeline import prepare_clip, resolve_workers, select_stages

    select_stages(until, only)  # as `dr2 prep`: bad stage options fail before anything else
    settings = prep_settings(keypoints, keypoints_dir, openpose_models, feature_kind, deepspeech_graph, smplx_model,
                             fit)
    return prepare_clip(Path(video), Path(workspace), clip=clip, until=until, only=only, force=force,
                        settings=settings, device=device, workers=resolve_workers(workers),
                        overlay=overlay, replace=replace)


def prepare_many(videos, workspace: str | Path = DEFAULT_WORKSPACE, jobs: int = 1, shard: str | None = None,
                 until: str | None = None, only: str | None = None, force: bool = False, replace: bool = False,
                 keypoints: str = "mediapipe", keypoints_dir: str | Path | None = None,
                 openpose_models: str | Path | None = None, workers: int | str = "auto", overlay: bool = False,
                 feature_kind: str | None = None, deepspeech_graph: str | Path | None = None,
                 smplx_model: str | None = None, fit=None, device: str = "auto"):
    """`dr2 prep` of several videos (or folders of them): each its own clip, `jobs` at a time.

    `shard` "K/N" keeps the K-th of N slices of the sorted videos (empty list
    when there are fewer videos than shards). Returns one
    `dr2prep.batch.VideoResult` per video (stages done, seconds, error); a
    failed video does not stop the others. `summary_table` formats them.
    """
    from dr2.defaults import resolve_device
    from dr2prep.batch import find_videos, parse_shard, prepare_videos, shard as shard_of
    from dr2prep.pipeline import resolve_workers, select_stages

    settings = prep_settings(keypoints, keypoints_dir, openpose_models, feature_kind, deepspeech_graph, smplx_model,
                             fit)
    select_stages(until, only)  # bad stage options fail here, not once per video
    device, workers = resolve_device(device), resolve_workers(workers, jobs)
    found = find_videos([Path(v) for v in ([videos] if isinstance(videos, (str, Path)) else videos)])
    if shard is not None:
        found = shard_of(found, *parse_shard(shard))
        if not found:
            return []
    return prepare_videos(found, Path(workspace), jobs=jobs, until=until, only=only, force=force, settings=settings,
                          device=device, workers=workers, overlay=overlay, replace=replace)


def summary_table(results, until: str | None = None, only: str | None = None) -> str:
    """The table `dr2 prep` prints after several videos: clip, stages done, seconds, error."""
    from dr2prep.batch import summary_table as table
    from dr2prep.pipeline import select_stages

    return table(results, select_stages(until, only))


def fit_smplx(clip: str | Path, workspace: str | Path = DEFAULT_WORKSPACE, fit=None, smplx_model: str | None = None,
              force: bool = False, overlay: bool = False, device: str = "auto", workers: int | str = "auto") -> Path:
    """`dr2 fit-smplx CLIP`: re-run only the SMPL-X fit of a clip (its directory or its name in `workspace`).

    `workers`: processes fitting its shots side by side (a number or "auto", the cores; same result)."""
    from dr2.defaults import resolve_device
    from dr2prep.pipeline import fit_clip, resolve_workers
    from dr2prep.workspace import clip_dir_of

    workers = resolve_workers(workers)
    clip_dir = clip_dir_of(str(clip), Path(workspace))
    return fit_clip(clip_dir, fit if fit is not None else fit_settings(), smplx_model, device=resolve_device(device),
                    force=force, overlay=overlay, workers=workers)
