"""Evaluation in Python: `evaluate`, with `dr2 eval`'s options and defaults (the CLI calls it)."""

from __future__ import annotations

from pathlib import Path


def evaluate(model=None, clips=(), audio=(), num_samples: int = 3, seed: int = 0, json_path: str | Path | None = None,
             smplx_model: str | None = None, deepspeech_graph: str | Path | None = None,
             device: str = "auto") -> dict:
    """`dr2 eval`: beat consistency, diversity, FGD, jitter and L1 of `model`'s gestures; fit quality of `clips`.

    `model` is a model directory or a `dr2.Model` (its directory is used).
    Gestures are synthesised for each clip's speech (scored against its fit)
    and each file in `audio`. Returns the report dict (also written to
    `json_path` when given); `format_report` prints it as `dr2 eval` does.
    """
    from dr2.defaults import resolve_device
    from dr2model.evaluate import EvalSettings, evaluate as run_evaluation
    from dr2prep.workspace import check_clip_path

    clips = [check_clip_path(c) for c in ([clips] if isinstance(clips, (str, Path)) else clips)]
    audio = [Path(a) for a in ([audio] if isinstance(audio, (str, Path)) else audio)]
    model_dir = getattr(model, "model_dir", model)
    return run_evaluation(None if model_dir is None else Path(model_dir), clips, audio,
                          EvalSettings(num_samples=num_samples, seed=seed), device=resolve_device(device),
                          body_model=smplx_model, deepspeech_graph=deepspeech_graph,
                          json_path=None if json_path is None else Path(json_path))


def format_report(report: dict) -> str:
    """The tables `dr2 eval` prints for a report from `evaluate`."""
    from dr2model.evaluate import format_report as format_tables

    return format_tables(report)
