"""A tiny trained model for the synthesis, preview and evaluation tests: two synthetic clips, a few steps.

The clips carry real built-in audio features of generated speech-like audio
(so synthesis on a new wav passes the feature-kind check) and smooth
low-rank SMPL-X parameters (tests/model/synthetic.py). Trained once per
process and shared by the test modules.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch

from dr2model.demo_input import make_demo_speech as speech_wav  # a speech-like 16 kHz wav
from dr2model.train import TrainSettings, train_model
from dr2prep.audio.extractor import feature_info, frame_features, make_extractor
from dr2common.rates import FPS, SAMPLE_RATE
from tests.model.synthetic import prepared_clip

CLIP_SECONDS = 6.0  # 180 frames: more than one 128-frame window
TINY_SETTINGS = TrainSettings(batch_size=2, window_stride=16, log_every=1, checkpoint_every=1000, max_steps=30)
_trained: dict[str, Path] = {}


@contextmanager
def single_thread():
    """Run torch on one thread: the tests' small batches gain nothing from more, and lose much on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def speech_clip(workspace: Path, name: str, seconds: float = CLIP_SECONDS, seed: int = 0) -> Path:
    """A clip folder as `dr2 prep` + fit leave it, with audio.wav and its real built-in features."""
    from dr2prep.audio.reading import load_audio

    clip_dir = Path(workspace) / name
    clip_dir.mkdir(parents=True, exist_ok=True)
    wav = speech_wav(clip_dir / "audio.wav", seconds, seed)
    frames = int(round(seconds * FPS))
    extractor = make_extractor("builtin")
    features = frame_features(extractor, load_audio(wav), frames, FPS)
    info = {**feature_info(extractor, FPS), "frames": frames, "audio_seconds": seconds, "silent": False}
    prepared_clip(workspace, name, frames, seed, features=features, features_info=info)
    assert SAMPLE_RATE == 16000
    return clip_dir


def tiny_model(root: Path) -> Path:
    """Train (once per process) a model on two speech clips under `root`; returns the model directory."""
    if "model" in _trained and _trained["model"].is_dir():
        return _trained["model"]
    root = Path(root)
    clips = [speech_clip(root / "work", "clip_a", seed=1), speech_clip(root / "work", "clip_b", seed=2)]
    model_dir = root / "model"
    with single_thread():
        train_model(clips, model_dir, TINY_SETTINGS)
    _trained["model"] = model_dir
    _trained["clips"] = root / "work"
    return model_dir
