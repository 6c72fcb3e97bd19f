"""Training in Python: `train`, with `dr2 train`'s options and defaults (the CLI calls it)."""

from __future__ import annotations

from pathlib import Path


def train(clips, out_dir: str | Path = "dr2-model", epochs: int = 100, max_steps: int | None = None,
          batch_size: int = 16, learning_rate: float = 1e-3, sigma: float = 0.2, posture_weight: float = 1.0,
          seed: int = 0, standing: bool = False, vposer: str | Path | None = None, feature_kind: str | None = None,
          force: bool = False, absolute_pose: bool = False, audio_channels: str = "all", device: str = "auto"):
    """`dr2 train`: train on prepared clip directories (WORKSPACE/CLIP) into `out_dir`; returns a `TrainResult`.

    Resumes from the last checkpoint in `out_dir` unless `force`. `max_steps`
    replaces `epochs` as the run's length. `feature_kind` picks the audio
    features when the clips hold several kinds; `absolute_pose` trains the paper's
    absolute decoder output instead of offsets from the initial state; `audio_channels` "prosody" lets the
    network hear only the prosody of the built-in audio features (loudness, voicing, pitch, onsets), not
    their spectral shape. `dr2.load_model(out_dir)` then gives the model for synthesis.
    """
    from dr2.defaults import resolve_device
    from dr2model.losses import LossWeights
    from dr2model.train import TrainSettings, train_model
    from dr2prep.workspace import check_clip_path

    clips = [check_clip_path(c) for c in ([clips] if isinstance(clips, (str, Path)) else clips)]
    settings = TrainSettings(epochs=epochs, max_steps=max_steps, batch_size=batch_size, learning_rate=learning_rate,
                             sigma=sigma, seed=seed, standing=standing, vposer=str(vposer) if vposer else None,
                             feature_kind=feature_kind, loss=LossWeights(unpaired_posture=posture_weight),
                             relative_pose=not absolute_pose, audio_channels=audio_channels)
    return train_model(clips, Path(out_dir), settings, device=resolve_device(device), force=force)
