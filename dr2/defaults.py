"""The command line's defaults, decided once for the CLI and the Python API alike.

Device "auto" is CUDA when PyTorch sees one, else the CPU; the audio feature
kind is DeepSpeech's when a graph is given or named by $DR2_DEEPSPEECH_GRAPH,
else the built-in feature.
"""

from __future__ import annotations

from pathlib import Path


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when available, else 'cpu'; 'cuda' without a CUDA device is an error."""
    from dr2common.device import resolve_device as resolve

    return resolve(device)


def deepspeech_graph_path(deepspeech_graph: str | Path | None = None) -> Path | None:
    """The DeepSpeech graph given, else the one $DR2_DEEPSPEECH_GRAPH names, else None."""
    from dr2prep.audio.deepspeech_graph import resolve_graph_path

    return resolve_graph_path(deepspeech_graph)


def audio_feature_settings(feature_kind: str | None = None, deepspeech_graph: str | Path | None = None):
    """Prep's `AudioFeatureSettings`: the kind given, else 'deepspeech' with a graph (option or env), else 'builtin'."""
    from dr2prep.audio.extractor import default_kind
    from dr2prep.audio.stage import AudioFeatureSettings

    graph = deepspeech_graph_path(deepspeech_graph)
    kind = feature_kind or default_kind(graph)
    return AudioFeatureSettings(kind=kind, deepspeech_graph=str(graph) if graph else None)
