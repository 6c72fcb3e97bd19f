"""The audio_features stage: `<clip>/audio.wav` -> `<clip>/audio_features/<kind>.npy` on the frame clock.

T (rows) equals the media stage's frame count, so row t belongs to frames/{t+1:06d}.jpg.
`<kind>.json` next to it describes the extractor; training copies it into checkpoints. The
folder holds one kind at a time: running the stage with another kind replaces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dr2common.atomic import write_json_atomic
from dr2common.errors import Dr2Error
from dr2common.rates import SAMPLE_RATE
from dr2prep.audio.deepspeech_graph import graph_sha256, require_graph_path
from dr2prep.audio.extractor import FEATURE_KINDS, check_speech, feature_info, frame_features, make_extractor
from dr2prep.audio.reading import is_silent, load_audio
from dr2prep.stage import StageSpec, run_stage, upstream_fingerprint

OUTPUT_DIR = "audio_features"
AUDIO_FEATURES = StageSpec(name="audio_features", version="1", outputs=(OUTPUT_DIR,))


@dataclass(frozen=True)
class AudioFeatureSettings:
    """kind: 'builtin' or 'deepspeech'; deepspeech_graph: path of output_graph.pb (deepspeech only).

    The graph enters the cache by its sha256, not its path, so moving the file re-runs nothing.
    """

    kind: str = "builtin"
    deepspeech_graph: str | None = None


def feature_paths(clip_dir: Path, kind: str) -> tuple[Path, Path]:
    """(<clip>/audio_features/<kind>.npy, <kind>.json)."""
    folder = Path(clip_dir) / OUTPUT_DIR
    return folder / f"{kind}.npy", folder / f"{kind}.json"


def load_clip_features(clip_dir: Path, kind: str) -> tuple[np.ndarray, dict]:
    """The (T, 29) features of a prepared clip and their description."""
    npy, info = feature_paths(clip_dir, kind)
    if not npy.is_file() or not info.is_file():
        present = sorted(p.stem for p in npy.parent.glob("*.npy")) if npy.parent.is_dir() else []
        held = f"it holds {', '.join(map(repr, present))} features" if present else "it has none"
        raise Dr2Error(
            f"clip {Path(clip_dir).name} has no {kind!r} audio features ({held}); "
            f"run `dr2 prep` on its video with the same audio feature options as for training"
        )
    return np.load(npy, allow_pickle=False), json.loads(info.read_text())


def run_audio_features_stage(clip_dir: Path, settings: AudioFeatureSettings, force: bool = False, device: str = "cpu"):
    """Compute the clip's audio features unless they are up to date; returns the StageOutcome."""
    clip_dir = Path(clip_dir)
    inputs = {"media": upstream_fingerprint(clip_dir, "media", "audio_features")}
    clip = json.loads((clip_dir / "clip.json").read_text())
    if clip.get("audio") is None or not (clip_dir / "audio.wav").is_file():
        raise Dr2Error(f"clip {clip_dir.name} has no audio track; audio features need the video's speech")
    if settings.kind not in FEATURE_KINDS:
        raise Dr2Error(f"unknown audio feature kind {settings.kind!r}; use one of {', '.join(FEATURE_KINDS)}")
    if settings.kind == "deepspeech":
        # Hashing, not loading: an up-to-date stage never reads the ~470 MB graph's weights.
        inputs["deepspeech_graph"] = graph_sha256(require_graph_path(settings.deepspeech_graph))
    cache_settings = {"kind": settings.kind}  # the graph is an input (by content), the device changes nothing

    def build(partial: Path) -> dict:
        extractor = make_extractor(settings.kind, settings.deepspeech_graph, device)
        samples = load_audio(clip_dir / "audio.wav")
        check_speech(samples, clip["fps"], what=f"the audio of clip {clip_dir.name}")
        features = frame_features(extractor, samples, clip["frames"], clip["fps"])
        npy, info = feature_paths(partial, settings.kind)
        npy.parent.mkdir(parents=True, exist_ok=True)
        np.save(npy, features)
        description = {**feature_info(extractor, clip["fps"]), "frames": int(features.shape[0]),
                       "audio_seconds": len(samples) / SAMPLE_RATE, "silent": is_silent(samples)}  # fmt: skip
        write_json_atomic(info, description)
        return {"kind": settings.kind, "frames": int(features.shape[0]), "silent": description["silent"]}

    return run_stage(clip_dir, AUDIO_FEATURES, inputs, cache_settings, build, force=force)
