"""Which audio feature extractors exist, and the per-frame features they give.

An extractor turns 16 kHz speech into (N, 29) rows at its own rate; `extract_features` puts
them on the 30 FPS frame clock. Its `describe()` dict names the kind and travels into
datasets and checkpoints, so synthesis can refuse features of another kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dr2prep.audio import builtin_features as builtin
from dr2prep.audio.alignment import frames_for_duration, resample_to_frames
from dr2prep.audio.deepspeech_graph import require_graph_path, resolve_graph_path
from dr2prep.audio.feature_extractor import FeatureExtractor
from dr2prep.audio.reading import is_silent, load_audio
from dr2common.errors import Dr2Error
from dr2common.progress import warn
from dr2common.rates import FPS, SAMPLE_RATE

FEATURE_DIM = 29  # DeepSpeech's 29 character logits; the built-in feature has the same width
from dr2prep.choices import FEATURE_KINDS  # noqa: E402  (defined once, light for the CLI)
# The fields of describe() that must match between training and synthesis.
IDENTITY_FIELDS = ("kind", "dim", "version", "fps", "graph_sha256")


class BuiltinExtractor(FeatureExtractor):
    """Loudness, MFCC, deltas, voicing, pitch and onsets (dr2prep.audio.builtin_features)."""

    kind = "builtin"
    dim = builtin.DIM
    source_rate = builtin.FEATURE_RATE
    version = builtin.VERSION

    def compute(self, samples: np.ndarray) -> np.ndarray:
        return builtin.builtin_features(samples)

    def describe(self) -> dict:
        return {**super().describe(), "channels": list(builtin.CHANNELS)}


def default_kind(deepspeech_graph: str | Path | None) -> str:
    """'deepspeech' when a graph is given (option or $DR2_DEEPSPEECH_GRAPH), else 'builtin'."""
    return "deepspeech" if resolve_graph_path(deepspeech_graph) else "builtin"


def make_extractor(kind: str = "builtin", deepspeech_graph: str | Path | None = None, device: str = "cpu"):
    """The extractor of `kind`; 'deepspeech' loads the graph given or named by $DR2_DEEPSPEECH_GRAPH."""
    if kind == "builtin":
        return BuiltinExtractor()
    if kind == "deepspeech":
        from dr2prep.audio.deepspeech_features import DeepSpeechExtractor  # imports torch: only when needed

        return DeepSpeechExtractor(require_graph_path(deepspeech_graph), device=device)
    raise Dr2Error(f"unknown audio feature kind {kind!r}; use one of {', '.join(FEATURE_KINDS)}")


def check_speech(samples: np.ndarray, fps: float = FPS, what: str = "the audio") -> None:
    """Refuse audio shorter than one video frame; warn (and go on) when it is silent."""
    seconds = len(samples) / SAMPLE_RATE
    if len(samples) < SAMPLE_RATE / fps:
        raise Dr2Error(
            f"{what} is {seconds:.3f} s long, shorter than one {fps:g} FPS frame ({1 / fps:.3f} s); give longer speech"
        )
    if is_silent(samples):
        warn(f"{what} is silent (no sample above -60 dBFS); its audio features carry no speech")


def frame_features(extractor: FeatureExtractor, samples: np.ndarray, n_frames: int, fps: float = FPS) -> np.ndarray:
    """(N,) 16 kHz samples -> (n_frames, dim) float32 features on the video frame clock."""
    rows = extractor.compute(samples)
    return resample_to_frames(rows, extractor.source_rate, n_frames, fps)


def extract_features(
    audio: str | Path | np.ndarray,
    kind: str | None = None,
    n_frames: int | None = None,
    fps: float = FPS,
    sample_rate: int | None = None,
    deepspeech_graph: str | Path | None = None,
    device: str = "cpu",
    extractor: FeatureExtractor | None = None,
) -> np.ndarray:
    """Speech (a file, or an array at `sample_rate`) -> (T, 29) float32 features at `fps`.

    T is `n_frames` when given (the clip's video frames), else round(seconds * fps). `kind`
    defaults to 'deepspeech' when a graph is given, else 'builtin'; pass `extractor` to reuse
    a loaded one across calls.
    """
    samples = load_audio(audio, sample_rate)
    check_speech(samples, fps)
    if extractor is None:
        extractor = make_extractor(kind or default_kind(deepspeech_graph), deepspeech_graph, device)
    if n_frames is None:
        n_frames = frames_for_duration(len(samples) / SAMPLE_RATE, fps)
    return frame_features(extractor, samples, n_frames, fps)


def feature_info(extractor: FeatureExtractor, fps: float = FPS) -> dict:
    """describe() plus the frame rate: what a dataset or checkpoint records about its features."""
    return {**extractor.describe(), "fps": fps}


def feature_identity(info: dict) -> dict:
    """The fields of a describe() dict that decide whether two sets of features are interchangeable."""
    return {field: info.get(field) for field in IDENTITY_FIELDS}


def check_feature_kind(expected: dict, actual: dict) -> None:
    """Refuse features of another kind than the model was trained with, saying what to pass instead."""
    want, got = feature_identity(expected), feature_identity(actual)
    if want == got:
        return
    if want["kind"] != got["kind"]:
        hint = (
            "give --deepspeech-graph with the same output_graph.pb used for training"
            if want["kind"] == "deepspeech"
            else "leave out --deepspeech-graph (and unset $DR2_DEEPSPEECH_GRAPH)"
        )
        raise Dr2Error(
            f"the model was trained on {want['kind']!r} audio features but these are {got['kind']!r} features; {hint}"
        )
    if want["graph_sha256"] != got["graph_sha256"]:
        raise Dr2Error(
            f"the model was trained on DeepSpeech features of graph sha256 {str(want['graph_sha256'])[:12]}…, "
            f"these come from graph {str(got['graph_sha256'])[:12]}…; give the same output_graph.pb as in training"
        )
    differing = ", ".join(f"{k} {want[k]!r} vs {got[k]!r}" for k in IDENTITY_FIELDS if want[k] != got[k])
    raise Dr2Error(
        f"the model's {want['kind']!r} audio features differ from these ({differing}); "
        f"re-run `dr2 prep` with this dr2 version and retrain, or use the dr2 version the model was trained with"
    )
