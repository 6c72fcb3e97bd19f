"""Small synthetic inputs for the model tests: SMPL-X parameter sets, feature arrays and prepared clip folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dr2model.dataset import ClipArrays
from dr2prep.stage import StageSpec, run_stage

BODY_RANK = 20  # body poses live in a 20-dim subspace, so a 32-dim code reproduces them exactly
HAND_RANK = 8


def smplx_params(frames: int, seed: int = 0, basis_seed: int = 100) -> dict[str, np.ndarray]:
    """Smooth SMPL-X parameters of one clip (keys of smplx/params.npz), low-rank body and hand poses."""
    rng = np.random.default_rng(seed)
    basis_rng = np.random.default_rng(basis_seed)  # shared by clips: one speaker's pose space
    body_basis = basis_rng.standard_normal((BODY_RANK, 63)) * 0.1
    left_basis = basis_rng.standard_normal((HAND_RANK, 45)) * 0.1
    right_basis = basis_rng.standard_normal((HAND_RANK, 45)) * 0.1
    t = np.arange(frames)[:, None] / 30.0

    def smooth(dim: int) -> np.ndarray:
        freq = rng.uniform(0.2, 2.0, dim)
        phase = rng.uniform(0, 2 * np.pi, dim)
        return np.sin(2 * np.pi * freq * t + phase)

    return {
        "betas": rng.standard_normal(10).astype(np.float32),
        "global_orient": np.tile([np.pi, 0.0, 0.0], (frames, 1)).astype(np.float32),
        "transl": (np.array([0.0, 0.3, 2.5]) + 0.02 * smooth(3)).astype(np.float32),
        "body_pose": (smooth(BODY_RANK) @ body_basis).astype(np.float32),
        "jaw_pose": (0.05 * np.abs(smooth(3))).astype(np.float32),
        "left_hand_pose": (smooth(HAND_RANK) @ left_basis).astype(np.float32),
        "right_hand_pose": (smooth(HAND_RANK) @ right_basis).astype(np.float32),
        "expression": smooth(10).astype(np.float32),
    }


def audio_features(frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return rng.standard_normal((frames, 29)).astype(np.float32)


def learnable_clip(frames: int = 200, seed: int = 0) -> ClipArrays:
    """A clip whose pose and face are a fixed function of the audio (so training can lower the loss)."""
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal((frames, 29)).astype(np.float32)
    smooth = np.stack([np.convolve(a, np.ones(5) / 5, mode="same") for a in audio.T], axis=1)
    pose = (smooth @ rng.standard_normal((29, 59)) * 0.5).astype(np.float32)
    face = (smooth @ rng.standard_normal((29, 10)) * 0.5).astype(np.float32)
    return ClipArrays(f"learnable{seed}", pose, face, audio, feature_kind="test")


def prepared_clip(workspace: Path, name: str, frames: int = 160, seed: int = 0, kinds=("builtin",),
                  stages=("smplx", "audio_features"), features: np.ndarray | None = None,
                  features_info: dict | None = None) -> Path:
    """A clip folder as `dr2 prep` leaves it: smplx/params.npz and audio_features/<kind>.npy, with stage records.

    `features` / `features_info` replace the random features and their minimal description (e.g. real
    features of a generated wav, so that synthesis on new audio passes the feature-kind check).
    """
    clip_dir = Path(workspace) / name
    clip_dir.mkdir(parents=True, exist_ok=True)
    if "smplx" in stages:
        params = smplx_params(frames, seed)

        def build_fit(partial: Path) -> dict:
            (partial / "smplx").mkdir(parents=True, exist_ok=True)
            np.savez(partial / "smplx" / "params.npz", **params)
            return {}

        run_stage(clip_dir, StageSpec("smplx", "test", ("smplx/params.npz",)), {}, None, build_fit)
    if "audio_features" in stages:
        if features is None:
            features = audio_features(frames, seed)

        def build_features(partial: Path) -> dict:
            (partial / "audio_features").mkdir(parents=True, exist_ok=True)
            for kind in kinds:
                np.save(partial / "audio_features" / f"{kind}.npy", features)
                info = features_info or {"kind": kind, "dim": 29}
                (partial / "audio_features" / f"{kind}.json").write_text(json.dumps(info))
            return {}

        outputs = tuple(f"audio_features/{k}.{ext}" for k in kinds for ext in ("npy", "json"))
        run_stage(clip_dir, StageSpec("audio_features", "test", outputs), {}, None, build_features)
    return clip_dir
