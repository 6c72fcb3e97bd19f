"""`dr2 eval`: how good synthesised gestures and SMPL-X fits are, as a text table and JSON.

Gestures (a model and speech, from files or prepared clips): beat consistency, diversity, FGD, jitter,
and L1 to the clip's fit when there is one. Fits (prepared clips): reprojection error and jitter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from dr2model.metrics import BC_ORDER, BC_SIGMA, audio_onsets, beat_consistency
from dr2model.motion_autoencoder import FGD_WINDOW, TRAIN_STEPS, fgd_space_for, motion_vectors, smplx_joints
from dr2common.errors import Dr2Error
from dr2prep.fitting.metrics import jitter
from dr2common.progress import say
from dr2prep.shots import TRANSITION_MARGIN, steady_segments
from dr2common.atomic import write_json_atomic
from dr2common.rates import FPS

BC_JOINTS = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)  # SMPL-X spine1 .. wrists: the upper body that gestures
BC_VARIANT = (f"EMAGE (Liu et al., CVPR 2024): librosa onsets (hop 512) vs local minima of joint speed "
              f"(argrelextrema order {BC_ORDER}), score exp(-d^2 / 2 sigma^2) with sigma = {BC_SIGMA} s, "
              f"averaged over the upper-body joints spine1..wrists")
METRIC_NOTES = {
    "bc": BC_VARIANT,
    "diversity_mm": "mean L1 between every pair of samples of pelvis-relative upper-body and finger joints (mm)",
    "jitter_mm_per_frame2": "mean acceleration magnitude of upper-body joints, camera space (mm / frame^2)",
    "fgd_training": f"Frechet distance of {FGD_WINDOW}-frame motion latents to the model's training motion",
    "fgd_ground_truth": "the same against the clip's own fitted motion",
    "l1_mm": "mean L1 of pelvis-relative upper-body and finger joints to the clip's fit, averaged over samples (mm)",
    "shots": f"clips with shot changes: every metric is taken within shots, {TRANSITION_MARGIN} frames either side "
             f"of each cut left out (a cut is not motion)",
}


@dataclass(frozen=True)
class EvalSettings:
    """How gestures are generated for evaluation."""

    num_samples: int = 3
    seed: int = 0
    init_frame: int | None = None  # for bare audio; None: random training frames
    start_from_fit: bool = True  # clips with a fit start from their own first pose (a fair L1), else as audio
    fgd_steps: int = TRAIN_STEPS


# --- fits -----------------------------------------------------------------------------------------------------

def fit_quality(clip_dir: Path, body=None) -> dict:
    """A prepared clip's fit: reprojection error (px, and as a fraction of the image height), jitter, detections.

    Read from smplx/report.json; without it, computed from smplx/params.npz
    (jitter needs `body`).
    """
    clip_dir = Path(clip_dir)
    report_path, params_path = clip_dir / "smplx" / "report.json", clip_dir / "smplx" / "params.npz"
    row = {"clip": clip_dir.name}
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        reprojection = report.get("reprojection_px", {})
        fraction = report.get("reprojection_fraction_of_height", {})
        row.update({
            "frames": report.get("frames"),
            "reprojection_median_px": reprojection.get("median"),
            "reprojection_mean_px": reprojection.get("mean"),
            "reprojection_median_fraction_of_height": fraction.get("median"),
            "detected_fraction": report.get("detected_fraction"),
            "jitter_mm_per_frame2": report.get("jitter_mm_per_frame2"),
            "fit_frames_per_second": report.get("frames_per_second"),
        })
        return row
    if not params_path.is_file():
        raise Dr2Error(f"clip {clip_dir.name} has no SMPL-X fit (smplx/params.npz); run `dr2 prep` on it first")
    from dr2prep.fitting.params_file import load_params

    params = load_params(params_path)
    errors = np.asarray(params.get("reprojection_px", []), np.float64)
    finite = errors[np.isfinite(errors)]
    height = float(np.asarray(params["image_size"])[1]) if "image_size" in params else None
    median = float(np.median(finite)) if len(finite) else None
    row.update({
        "frames": int(len(params["body_pose"])),
        "reprojection_median_px": median,
        "reprojection_mean_px": float(finite.mean()) if len(finite) else None,
        "reprojection_median_fraction_of_height": median / height if median is not None and height else None,
        "detected_fraction": float(np.mean(params["detected"])) if "detected" in params else None,
        "jitter_mm_per_frame2": jitter_within_shots(smplx_joints(body, fit_params(params)),
                                                    params.get("shot_starts", ())) if body is not None else None,
        "fit_frames_per_second": None,
    })
    return row


def jitter_within_shots(joints: np.ndarray, cuts=()) -> float | None:
    """Jitter of a (T, 55, 3) sequence measured within the steady part of each shot (weighted by frames)."""
    parts = [(jitter(joints[a:b]), b - a) for a, b in steady_segments(len(joints), np.asarray(cuts).reshape(-1))]
    return float(sum(v * w for v, w in parts) / sum(w for _, w in parts)) if parts else None


def fit_params(params: dict) -> dict[str, np.ndarray]:
    """A fit's params.npz -> `smplx.SMPLX` arguments (T, ·) (betas repeated per frame)."""
    from dr2common.smplx_params import SMPLX_KEYS

    frames = len(params["body_pose"])
    out = {}
    for key in SMPLX_KEYS:
        if key == "betas":
            out[key] = np.tile(np.asarray(params["betas"], np.float32).reshape(1, -1)[:, :10], (frames, 1))
        elif key in params:
            out[key] = np.asarray(params[key], np.float32)
        else:
            out[key] = np.zeros((frames, 3), np.float32)
    return out


# --- gestures -------------------------------------------------------------------------------------------------

def gesture_metrics(samples: list[np.ndarray], onsets: np.ndarray, space, truth: np.ndarray | None = None,
                    cuts=()) -> dict:
    """Metrics of N generated joint sequences (T, 55, 3) against audio onsets (s) and optionally the fit's joints.

    `cuts` are the truth clip's shot changes (frames): every metric is then taken on the
    steady part of each shot (steady_segments) and averaged weighted by its frames, so a cut
    never counts as motion in the fit's jitter, beats or FGD windows, nor in the L1 to it.
    """
    if truth is not None:
        frames = min(len(truth), min(len(s) for s in samples))
        samples, truth = [s[:frames] for s in samples], truth[:frames]
    segments = steady_segments(len(samples[0]), cuts)
    pairs = list(combinations(range(len(samples)), 2))

    def bc(joints, a=0):  # onsets shifted to the segment's own clock
        return beat_consistency(onsets - a / FPS, joints[:, list(BC_JOINTS)], FPS)

    def bc_within_shots(joints):
        values = [(bc(joints[a:b], a), b - a) for a, b in segments]
        values = [(v, w) for v, w in values if np.isfinite(v)]
        return float(sum(v * w for v, w in values) / sum(w for _, w in values)) if values else None

    def pieces(joints):  # motion vectors of each shot's steady part
        return [motion_vectors(joints[a:b]) for a, b in segments]

    motions = [pieces(s) for s in samples]
    flat = [np.concatenate(m) for m in motions]
    row = {
        "frames": int(len(samples[0])),
        "samples": len(samples),
        "shots": len(segments),
        "bc": _mean(bc_within_shots(s) for s in samples),
        "diversity_mm": _mean(np.abs(flat[a] - flat[b]).mean() * 1000 for a, b in pairs) if pairs else None,
        "jitter_mm_per_frame2": _mean(jitter_within_shots(s, cuts) for s in samples),
        "fgd_training": space.distance_to_training([p for m in motions for p in m]),
        "bc_ground_truth": None, "jitter_ground_truth": None, "fgd_ground_truth": None, "l1_mm": None,
    }
    if truth is not None:
        truth_motion = np.concatenate(pieces(truth))
        row.update({
            "bc_ground_truth": bc_within_shots(truth),
            "jitter_ground_truth": jitter_within_shots(truth, cuts),
            "fgd_ground_truth": space.distance([p for m in motions for p in m], pieces(truth)),
            "l1_mm": _mean(np.abs(m - truth_motion).mean() * 1000 for m in flat),
        })
    return row


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def _start_label(from_fit: bool, init_frame: int | None) -> str:
    if from_fit:
        return "fit frame 0"
    return "random training frames" if init_frame is None else f"training frame {init_frame}"


def check_clip_intact(clip_dir: Path) -> None:
    """Refuse a clip whose finished stages' outputs were damaged since (one line with the command that redoes them)."""
    from dr2prep.stage import read_record, require_record

    for stage in ("media", "smplx", "audio_features"):
        if read_record(clip_dir, stage) is not None:
            require_record(clip_dir, stage, "eval")


def _speech_inputs(clips: list[Path], audio: list[Path]) -> list[tuple[str, Path, Path | None]]:
    """(name, speech file, clip with a fit or None) for every gesture input."""
    inputs = []
    for clip_dir in clips:
        wav = Path(clip_dir) / "audio.wav"
        if not wav.is_file():
            raise Dr2Error(f"clip {Path(clip_dir).name} has no audio.wav; run `dr2 prep` on its video first")
        has_fit = (Path(clip_dir) / "smplx" / "params.npz").is_file()
        inputs.append((Path(clip_dir).name, wav, Path(clip_dir) if has_fit else None))
    for path in audio:
        inputs.append((Path(path).name, Path(path), None))
    return inputs


def evaluate(
    model_dir: Path | None = None,
    clips: list[Path] = (),
    audio: list[Path] = (),
    settings: EvalSettings = EvalSettings(),
    device: str = "cpu",
    body_model: str | Path | None = None,
    deepspeech_graph: str | Path | None = None,
    json_path: Path | None = None,
) -> dict:
    """`dr2 eval`: the report as a dict (also written to `json_path` when given); format it with `format_report`.

    With `model_dir`, gestures are synthesised (N samples) for each clip's
    audio and each audio file; clips with a fit also give the ground truth.
    Every clip with a fit also gets a fit-quality row.
    """
    from dr2prep.bodymodel.loading import load_body_model

    clips, audio = [Path(c) for c in clips], [Path(a) for a in audio]
    if model_dir is None and not clips:
        raise Dr2Error("nothing to evaluate; give --model with speech (--audio or --clips), or --clips for fit quality")
    if model_dir is None and audio:
        raise Dr2Error("--audio needs --model: gestures are synthesised from the speech by a trained model")
    for clip_dir in clips:
        if not clip_dir.is_dir():
            raise Dr2Error(f"clip directory {clip_dir} does not exist; give a clip made by `dr2 prep`")
        check_clip_intact(clip_dir)
    body = load_body_model(body_model)
    report: dict = {"model": None, "metrics": METRIC_NOTES, "gestures": [], "fits": []}

    for clip_dir in clips:
        if any((clip_dir / "smplx" / name).is_file() for name in ("report.json", "params.npz")):
            report["fits"].append(fit_quality(clip_dir, body))

    if model_dir is not None:
        from dr2model.checkpoint import load_model
        from dr2model.dataset import load_training_params
        from dr2model.synthesis import (
            identity_of,
            require_body_model,
            require_decodable,
            smplx_params,
            synthesize_states,
        )
        from dr2common.rates import SAMPLE_RATE
        from dr2prep.audio.reading import load_audio

        model = load_model(model_dir, device)
        require_decodable(model, Path(model_dir))
        require_body_model(model, body, Path(model_dir))
        space = fgd_space_for(Path(model_dir), model, body, settings.fgd_steps)
        report["model"] = {"path": str(model_dir), "step": model.config.get("step"),
                           "feature_kind": model.feature_kind, "samples_per_input": settings.num_samples,
                           "seed": settings.seed, "fgd_autoencoder": space.digest[:16],
                           "fgd_reconstruction_error": round(space.reconstruction_error, 5)}
        for name, speech, truth_clip in _speech_inputs(clips, audio):
            say(f"eval: {name}")
            truth, start_state, clip_identity, cuts = None, None, None, ()
            if truth_clip is not None:
                truth_params = load_training_params(truth_clip / "smplx" / "params.npz")
                cuts = tuple(int(c) for c in np.asarray(truth_params.get("shot_starts", ())).reshape(-1))
                truth = smplx_joints(body, fit_params(truth_params))
                if settings.start_from_fit:
                    clip_identity = model.codecs.identity_for(truth_params, name)
                    start_state = model.codecs.encode(truth_params, clip_identity)[0][0]
            result = synthesize_states(model, speech, settings.num_samples, settings.seed, settings.init_frame,
                                       device, deepspeech_graph, start_state=start_state)
            joints = []
            for k in range(settings.num_samples):
                identity = clip_identity or identity_of(model, int(result.init_frames[k]))
                joints.append(smplx_joints(body, smplx_params(model, result.pose[k], result.face[k], identity)))
            onsets = audio_onsets(load_audio(speech), SAMPLE_RATE)
            start = _start_label(start_state is not None, settings.init_frame)
            report["gestures"].append({"input": name, "start": start,
                                       **gesture_metrics(joints, onsets, space, truth, cuts)})

    if json_path is not None:
        try:
            write_json_atomic(Path(json_path), report)
        except OSError as error:
            raise Dr2Error(f"cannot write {json_path} ({error.strerror}); give a writable --json path") from None
    return report


# --- the table ------------------------------------------------------------------------------------------------

GESTURE_COLUMNS = (("input", "input"), ("start", "start"), ("frames", "frames"), ("bc", "BC"),
                   ("bc_ground_truth", "BC fit"),
                   ("diversity_mm", "diversity mm"), ("jitter_mm_per_frame2", "jitter mm/f²"),
                   ("jitter_ground_truth", "jitter fit"), ("fgd_training", "FGD train"),
                   ("fgd_ground_truth", "FGD fit"), ("l1_mm", "L1 mm"))
FIT_COLUMNS = (("clip", "clip"), ("frames", "frames"), ("reprojection_median_px", "reproj median px"),
               ("reprojection_median_fraction_of_height", "of height"), ("reprojection_mean_px", "reproj mean px"),
               ("detected_fraction", "detected"), ("jitter_mm_per_frame2", "jitter mm/f²"))


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def _table(rows: list[dict], columns) -> list[str]:
    cells = [[label for _, label in columns]] + [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
            for line in cells]


def format_report(report: dict) -> str:
    """The report as text tables (gestures, then fits) with the metric definitions."""
    lines = []
    model = report.get("model")
    if model:
        lines.append(f"gestures: model {model['path']} (step {model['step']}, {model['feature_kind']} features), "
                     f"{model['samples_per_input']} samples per input from seed {model['seed']}, "
                     f"FGD autoencoder {model['fgd_autoencoder']}")
        lines += _table(report["gestures"], GESTURE_COLUMNS)
        lines.append("")
    if report.get("fits"):
        lines.append("SMPL-X fits")
        lines += _table(report["fits"], FIT_COLUMNS)
        lines.append("")
    lines.append("BC: " + report["metrics"]["bc"])
    return "\n".join(lines)
