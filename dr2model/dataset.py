"""Training data: per-clip arrays (P, F, A) and 128-frame windows, paired and from the state bank.

A clip becomes `ClipArrays` (pose state P (T, 59), face F (T, 10), normalised
audio A (T, 29)); `GestureWindows` cuts every clip into windows V_x and draws
unpaired windows V_y from all training frames (the "state bank").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dr2model.choices import AUDIO_CHANNELS
from dr2model.codecs import PARAM_KEYS, ClipIdentity, Codecs
from dr2model.network import WINDOW
from dr2common.errors import Dr2Error
from dr2prep.shots import shot_ranges
from dr2prep.stage import require_record
from dr2common.rates import FPS

PARAMS_PATH = "smplx/params.npz"
FEATURES_DIR = "audio_features"
MAX_LENGTH_MISMATCH = 15  # frames (0.5 s) the fit and the audio features may differ by before it is an error


@dataclass
class ClipArrays:
    """One clip ready for training: arrays aligned frame by frame at 30 FPS."""

    name: str
    pose: np.ndarray  # (T, D) pose state P
    face: np.ndarray  # (T, 10) expression F
    audio: np.ndarray  # (T, 29) audio features, normalised with the codecs
    identity: ClipIdentity | None = None  # None for synthetic clips that are not SMPL-X
    feature_kind: str | None = None
    cuts: tuple[int, ...] = ()  # first frame of every shot after the first (windows never straddle one)

    def __len__(self) -> int:
        return len(self.pose)


def load_training_params(path: Path) -> dict[str, np.ndarray]:
    """<clip>/smplx/params.npz as a dict, checked for the keys and shapes training needs."""
    from dr2prep.fitting.params_file import load_params

    return check_params(load_params(path), str(path))


def check_params(params: dict, where: str = "params") -> dict[str, np.ndarray]:
    missing = [key for key in PARAM_KEYS if key not in params]
    if missing:
        raise Dr2Error(f"{where} lacks {', '.join(missing)}; re-run `dr2 fit-smplx` on the clip")
    params = {k: (np.asarray(v, np.float32) if k in PARAM_KEYS else v) for k, v in params.items()}
    frames = len(params["body_pose"])
    for key, width in PARAM_KEYS.items():
        value = np.asarray(params[key])
        if width is not None and value.shape != (frames, width):
            raise Dr2Error(
                f"{where}: {key} has shape {value.shape}, expected ({frames}, {width}); re-run `dr2 fit-smplx`"
            )
        if not np.all(np.isfinite(value)):
            raise Dr2Error(f"{where}: {key} holds NaN or infinite values; re-run `dr2 fit-smplx` on the clip")
    return params


def align_lengths(params: dict, features: np.ndarray, where: str) -> tuple[dict, np.ndarray]:
    """Crop the fit and the audio features to the same number of frames (they may differ by rounding)."""
    frames, feature_frames = len(params["body_pose"]), len(features)
    if abs(frames - feature_frames) > MAX_LENGTH_MISMATCH:
        raise Dr2Error(
            f"{where}: the SMPL-X fit has {frames} frames but the audio features {feature_frames}; "
            f"re-run `dr2 prep` on the clip so both come from the same video"
        )
    n = min(frames, feature_frames)

    def per_frame(key: str, value) -> bool:
        return key != "betas" and np.ndim(value) >= 1 and len(value) == frames

    cropped = {k: (v[:n] if per_frame(k, v) else v) for k, v in params.items()}
    return cropped, features[:n]


def clip_arrays_from_params(params_npz, features_npy, codecs: Codecs, name: str | None = None) -> ClipArrays:
    """SMPL-X params (path or dict) + audio features ((T, 29) path or array) -> ClipArrays.

    The clip's translation normalisation and fixed shape/orientation are
    computed here and returned in `identity`; the learned codes come from
    `codecs`.
    """
    if isinstance(params_npz, (str, Path)):
        name = name or Path(params_npz).parent.parent.name
        params = load_training_params(Path(params_npz))
    else:
        params = check_params(dict(params_npz), name or "params")
    features = np.load(features_npy, allow_pickle=False) if isinstance(features_npy, (str, Path)) else features_npy
    features = np.asarray(features, np.float32)
    name = name or "clip"
    params, features = align_lengths(params, features, name)
    identity = codecs.identity_for(params, name)
    pose, face = codecs.encode(params, identity)
    cuts = tuple(int(c) for c in np.asarray(params.get("shot_starts", ()), np.int64).reshape(-1))
    return ClipArrays(name, pose, face, codecs.normalise_audio(features), identity, cuts=cuts)


@dataclass(frozen=True)
class ClipInputs:
    """What `train_model` reads from a prepared clip directory."""

    name: str
    params: dict
    features: np.ndarray
    feature_kind: str


def read_clip_inputs(clip_dir: Path, feature_kind: str | None = None) -> ClipInputs:
    """A prepared clip's SMPL-X fit and audio features, with clear errors for what is missing."""
    clip_dir = Path(clip_dir)
    if not clip_dir.is_dir():
        raise Dr2Error(f"clip directory {clip_dir} does not exist; give a clip made by `dr2 prep`")
    require_record(clip_dir, "smplx", "train")
    require_record(clip_dir, "audio_features", "train")
    kinds = available_feature_kinds(clip_dir)
    if feature_kind is None:
        if len(kinds) != 1:
            raise Dr2Error(
                f"clip {clip_dir.name} has audio features of kinds {kinds or 'none'}; "
                f"choose one with --audio-features or re-run `dr2 prep`"
            )
        feature_kind = kinds[0]
    elif feature_kind not in kinds:
        raise Dr2Error(
            f"clip {clip_dir.name} has no '{feature_kind}' audio features (has {', '.join(kinds) or 'none'}); "
            f"run `dr2 prep` with that feature kind"
        )
    try:
        features = np.load(clip_dir / FEATURES_DIR / f"{feature_kind}.npy", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise Dr2Error(f"cannot read audio features of clip {clip_dir.name} ({error}); re-run `dr2 prep`") from None
    params = load_training_params(clip_dir / PARAMS_PATH)
    return ClipInputs(clip_dir.name, params, np.asarray(features, np.float32), feature_kind)


def available_feature_kinds(clip_dir: Path) -> list[str]:
    """Kinds with both <kind>.npy and <kind>.json under <clip>/audio_features/."""
    folder = Path(clip_dir) / FEATURES_DIR
    return sorted(p.stem for p in folder.glob("*.npy") if p.with_suffix(".json").is_file())


# What `dr2 train --audio-channels prosody` lets the network hear of the built-in features: loudness,
# voicing, pitch and onsets. With their spectral shape (MFCC and its deltas) too, the network can learn
# 15-30 s of one speaker window by window, and its motion may shrink on speech it has not heard; the
# README's "One speaker, held out" measures both choices.
PROSODY_CHANNELS = ("energy", "delta_energy", "voicing", "pitch", "onset")


def heard_channels(channels: list[str], choice: str) -> np.ndarray | None:
    """(A,) 1 for the feature channels (named as in the features' description) the network hears, else 0;
    None when it hears them all: `choice` "all", or features without the prosody channels (DeepSpeech's
    character logits)."""
    if choice not in AUDIO_CHANNELS:
        raise Dr2Error(f"unknown audio channel choice {choice!r}; use one of {', '.join(AUDIO_CHANNELS)}")
    if choice == "all" or not set(PROSODY_CHANNELS) <= set(channels):
        return None
    return np.array([name in PROSODY_CHANNELS for name in channels], np.float32)


def feature_description(clip_dir: Path, kind: str) -> dict:
    try:
        return json.loads((Path(clip_dir) / FEATURES_DIR / f"{kind}.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


MIN_SHOT_FRAMES = 32  # a shot shorter than a window still trains when it holds at least this many frames (~1 s)


class GestureWindows:
    """All 128-frame windows of the training clips, and the state bank for unpaired windows.

    Paired windows start every `stride` frames (one epoch = all of them);
    unpaired windows V_y may start at any frame of any clip. No window of
    either kind reaches across a shot change: a cut is not motion. A shot of
    `min_shot` to 127 frames gives windows too (edited videos cut every few
    seconds): they are padded with the shot's last frame and `valid` marks
    the frames the losses may use, so nothing after the cut is learned.
    """

    def __init__(self, clips: list[ClipArrays], window: int = WINDOW, stride: int = 1,
                 min_shot: int = MIN_SHOT_FRAMES):
        short = [c.name for c in clips if len(c) < window]
        if short:
            raise Dr2Error(
                f"clip(s) {', '.join(short)} have fewer than {window} frames ({window / FPS:.1f} s); "
                f"training needs at least that much video per clip"
            )
        min_shot = min(min_shot, window)
        shots = [[(a, b) for a, b in shot_ranges(len(c), c.cuts) if b - a >= min_shot] for c in clips]
        cut_up = [c.name for c, s in zip(clips, shots) if not s]
        if cut_up:
            raise Dr2Error(
                f"clip(s) {', '.join(cut_up)} have no shot of {min_shot} frames ({min_shot / FPS:.1f} s) or more "
                f"between their cuts; training needs unbroken shots at least that long"
            )
        self.window = window
        self.pose = torch.from_numpy(np.concatenate([c.pose for c in clips]))
        self.face = torch.from_numpy(np.concatenate([c.face for c in clips]))
        self.audio = torch.from_numpy(np.concatenate([c.audio for c in clips]))
        offsets = np.cumsum([0] + [len(c) for c in clips])
        ranges = [(o + a, o + b) for o, s in zip(offsets, shots) for a, b in s]
        # Frames a window must have in its shot: a shot as long as a window or longer gives whole windows only,
        # a shorter one windows that start where at least `min_shot` frames remain.
        needed = [window if b - a >= window else min_shot for a, b in ranges]
        # Global start frames of every possible window (state bank) and of the paired windows.
        self.bank_starts = torch.from_numpy(np.concatenate([
            np.arange(a, b - n + 1) for (a, b), n in zip(ranges, needed)
        ]))
        self.paired_starts = torch.from_numpy(np.concatenate([
            _strided_starts(a, b - a, n, stride) for (a, b), n in zip(ranges, needed)
        ]))
        # The end of the shot each frame belongs to: windows are padded and masked from there on.
        self.shot_end = torch.zeros(len(self.pose), dtype=torch.long)
        for a, b in ranges:
            self.shot_end[a:b] = b
        self.frames_in_shots = int(sum(b - a for a, b in ranges))  # frames any window can cover

    def __len__(self) -> int:
        return len(self.paired_starts)

    def _index(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame indices (B, window), held at the shot's last frame past its end, and which are real (B, window)."""
        index = starts[:, None] + torch.arange(self.window)
        end = self.shot_end[starts][:, None]
        return torch.minimum(index, end - 1), index < end

    def batch(self, paired: torch.Tensor, unpaired: torch.Tensor) -> dict[str, torch.Tensor]:
        """Window indices -> audio A_x, pose P_x, face F_x (B, 128, ·), the state-bank pose P_y, and the
        frames of each window that lie in its shot (`valid`, `valid_unpaired`: (B, 128) bool)."""
        x, valid_x = self._index(self.paired_starts[paired])
        y, valid_y = self._index(self.bank_starts[unpaired])
        return {
            "audio": self.audio[x],
            "pose": self.pose[x],
            "face": self.face[x],
            "pose_unpaired": self.pose[y],
            "valid": valid_x,
            "valid_unpaired": valid_y,
        }


def _strided_starts(offset: int, length: int, window: int, stride: int) -> np.ndarray:
    """Starts every `stride` frames of windows needing `window` frames; the last is aligned to the end so no frame
    is left out."""
    starts = np.arange(0, length - window + 1, stride)
    if starts[-1] != length - window:
        starts = np.append(starts, length - window)
    return offset + starts
