"""Audio features per video frame: DeepSpeech v0.1.0 logits (PyTorch port) or the built-in feature.

`extract_features` serves synthesis; `run_audio_features_stage` serves `dr2 prep`.
"""

from dr2prep.audio.extractor import (
    FEATURE_DIM,
    FEATURE_KINDS,
    check_feature_kind,
    default_kind,
    extract_features,
    feature_info,
    make_extractor,
)
from dr2prep.audio.stage import AudioFeatureSettings, load_clip_features, run_audio_features_stage

__all__ = [
    "FEATURE_DIM",
    "FEATURE_KINDS",
    "AudioFeatureSettings",
    "check_feature_kind",
    "default_kind",
    "extract_features",
    "feature_info",
    "load_clip_features",
    "make_extractor",
    "run_audio_features_stage",
]
