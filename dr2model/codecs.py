"""Codes between SMPL-X parameters and the network's pose state P and face F.

P (59) = [body code 32 | translation 3 | left hand 12 | right hand 12]
(+ 3 standing translation when `standing`), F (10) = SMPL-X expression.
Everything a trained model needs to decode its output back to SMPL-X lives
in `Codecs` and is saved as plain tensors plus a JSON description. The body
code is a whitened PCA learned from the training poses, or VPoser v1.0's
latent when the user gives its snapshot (`vposer.py`).

Translation slots (DESIGN §4.6, supplementary §1.2): the release's "camera
translation" slots 32:35 hold the clip's normalised `transl`. With
`standing`, three more slots after the hands carry `transl` and the
slots 32:35 carry `camera_translation` when the fit wrote one (else `transl`
again), so a standing subject's position is both generated and part of the
initial state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dr2common.errors import Dr2Error
from dr2prep.bodymodel.vposer import LATENT_DIM as VPOSER_LATENT_DIM, VPoserV1

BODY_POSE_DIM = 63  # 21 body joints × axis-angle
HAND_POSE_DIM = 45  # 15 hand joints × axis-angle
BODY_CODE_DIM = 32
HAND_CODE_DIM = 12
TRANSLATION_DIM = 3
EXPRESSION_DIM = 10
TRANSLATION_EPS = 0.01  # (t − mean)/(std + 0.01), as in the authors' release
MIN_SCALE_RATIO = 1e-3  # whitening floor relative to the first component, keeps rank-poor data finite

# The keys of <clip>/smplx/params.npz this module reads, with their per-frame widths (None: not per frame).
PARAM_KEYS = {
    "betas": None,
    "global_orient": 3,
    "transl": 3,
    "body_pose": BODY_POSE_DIM,
    "jaw_pose": 3,
    "left_hand_pose": HAND_POSE_DIM,
    "right_hand_pose": HAND_POSE_DIM,
    "expression": EXPRESSION_DIM,
}


@dataclass
class LinearCode:
    """x ≈ mean + code @ basis: a linear code of poses (learned PCA or MANO's hand PCA).

    mean (D,), basis (K, D). For a learned code the rows are principal
    directions scaled by their standard deviation, so codes have unit variance
    on the training data (like VPoser's latent) and Eq. 1's σ means the same
    for every slot.
    """

    mean: torch.Tensor
    basis: torch.Tensor
    kind: str = "pca"

    def __post_init__(self):
        self.mean = torch.as_tensor(self.mean, dtype=torch.float32)
        self.basis = torch.as_tensor(self.basis, dtype=torch.float32)
        # Least-squares inverse of the basis: exact for any x in its span.
        self._projection = torch.linalg.pinv(self.basis.double()).float()  # (D, K)

    @property
    def dim(self) -> int:
        return self.basis.shape[0]

    def encode(self, x):
        """(..., D) -> (..., K); numpy in, numpy out."""
        return _apply(x, lambda t: (t - self.mean.to(t)) @ self._projection.to(t))

    def decode(self, code):
        """(..., K) -> (..., D)."""
        return _apply(code, lambda t: t @ self.basis.to(t) + self.mean.to(t))


def _apply(x, fn):
    if isinstance(x, np.ndarray):
        return fn(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()
    return fn(x.float())


def fit_linear_code(samples: np.ndarray, dim: int) -> LinearCode:
    """Whitened PCA of samples (N, D) with `dim` components; signs fixed so results are reproducible."""
    x = np.asarray(samples, dtype=np.float64)
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(dim, vt.shape[0])
    directions = vt[:k]
    signs = np.sign(directions[np.arange(k), np.abs(directions).argmax(axis=1)])
    directions = directions * signs[:, None]
    std = singular[:k] / np.sqrt(max(len(x) - 1, 1))
    floor = max(std[0] if k else 0.0, 1e-6) * MIN_SCALE_RATIO
    std = np.maximum(std, floor)
    if k < dim:  # fewer samples than components: pad with unused orthogonal directions
        extra = _orthogonal_complement(directions, dim - k)
        directions = np.concatenate([directions, extra])
        std = np.concatenate([std, np.full(dim - k, floor)])
    return LinearCode(mean, directions * std[:, None], kind="pca")


def _orthogonal_complement(rows: np.ndarray, count: int) -> np.ndarray:
    d = rows.shape[1]
    q, _ = np.linalg.qr(np.concatenate([rows, np.eye(d)]).T)
    return q.T[len(rows):len(rows) + count]


class VPoserCode:
    """Body code through VPoser v1.0 (dr2prep.bodymodel.vposer).

    The same encode/decode interface as `LinearCode` (numpy or torch).
    """

    kind = "vposer"
    dim = VPOSER_LATENT_DIM

    def __init__(self, model: VPoserV1):
        self.model = model.eval()

    def encode(self, x):
        return self._run(self.model.encode, x)

    def decode(self, code):
        return self._run(self.model.decode, code)

    def _run(self, fn, x):
        with torch.no_grad():
            if isinstance(x, np.ndarray):
                flat = torch.from_numpy(np.asarray(x, np.float32).reshape(-1, x.shape[-1]))
                return fn(flat).numpy().reshape(*x.shape[:-1], -1)
            return fn(x.float().reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)


@dataclass
class TranslationNorm:
    """Per-clip translation normalisation (t − mean)/(std + 0.01): mean, std (3,) in metres."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, translation: np.ndarray) -> "TranslationNorm":
        t = np.asarray(translation, dtype=np.float64)
        return cls(t.mean(axis=0).astype(np.float32), t.std(axis=0).astype(np.float32))

    def normalise(self, translation: np.ndarray) -> np.ndarray:
        return ((translation - self.mean) / (self.std + TRANSLATION_EPS)).astype(np.float32)

    def denormalise(self, values: np.ndarray) -> np.ndarray:
        return (values * (self.std + TRANSLATION_EPS) + self.mean).astype(np.float32)


@dataclass
class ClipIdentity:
    """What stays fixed in one clip and is needed to decode: the speaker's shape, orientation, place."""

    name: str
    betas: np.ndarray  # (10,) or the fit's number of shape coefficients
    global_orient: np.ndarray  # (3,) axis-angle; fixed after the first frame by the fit
    jaw_pose: np.ndarray  # (3,) the clip's mean jaw rotation (the face decoder emits expression only)
    translation: TranslationNorm
    camera: TranslationNorm | None = None  # only when standing and the fit wrote camera_translation


@dataclass
class Codecs:
    """Learned body/hand codes, audio normalisation and the training clips' identities."""

    body: LinearCode  # or VPoserCode (same encode/decode/dim/kind)
    left_hand: LinearCode
    right_hand: LinearCode
    audio_mean: np.ndarray  # (A,)
    audio_std: np.ndarray  # (A,)
    standing: bool = False
    clips: list[ClipIdentity] = field(default_factory=list)
    audio_heard: np.ndarray | None = None  # (A,) 1 for the channels the network hears, 0 for the rest; None: all

    @property
    def pose_dim(self) -> int:
        extra = TRANSLATION_DIM if self.standing else 0
        return self.body.dim + TRANSLATION_DIM + self.left_hand.dim + self.right_hand.dim + extra

    # Slices of the pose state P.
    @property
    def slices(self) -> dict[str, slice]:
        b, lh, rh = self.body.dim, self.left_hand.dim, self.right_hand.dim
        s = {
            "body": slice(0, b),
            "translation": slice(b, b + 3),
            "left_hand": slice(b + 3, b + 3 + lh),
            "right_hand": slice(b + 3 + lh, b + 3 + lh + rh),
        }
        if self.standing:
            s["standing_translation"] = slice(b + 3 + lh + rh, b + 6 + lh + rh)
        return s

    def normalise_audio(self, features: np.ndarray) -> np.ndarray:
        """(T, A) raw features of the model's kind -> zero-mean, unit-variance per dimension, and zero in
        the channels the network does not hear (training and synthesis both read audio through here)."""
        normalised = (features - self.audio_mean) / self.audio_std
        if self.audio_heard is not None:
            normalised = normalised * self.audio_heard
        return normalised.astype(np.float32)

    def identity_for(self, params: dict, name: str) -> ClipIdentity:
        camera = None
        if self.standing and "camera_translation" in params:
            camera = TranslationNorm.fit(params["camera_translation"])
        return ClipIdentity(
            name=name,
            betas=np.asarray(params["betas"], np.float32).reshape(-1),
            global_orient=np.asarray(params["global_orient"], np.float64).mean(axis=0).astype(np.float32),
            jaw_pose=np.asarray(params["jaw_pose"], np.float64).mean(axis=0).astype(np.float32),
            translation=TranslationNorm.fit(params["transl"]),
            camera=camera,
        )

    def encode(self, params: dict, identity: ClipIdentity) -> tuple[np.ndarray, np.ndarray]:
        """SMPL-X params of one clip -> P (T, pose_dim), F (T, 10), float32."""
        translation = identity.translation.normalise(params["transl"])
        parts = [
            self.body.encode(np.asarray(params["body_pose"], np.float32)),
            identity.camera.normalise(params["camera_translation"]) if identity.camera is not None else translation,
            self.left_hand.encode(np.asarray(params["left_hand_pose"], np.float32)),
            self.right_hand.encode(np.asarray(params["right_hand_pose"], np.float32)),
        ]
        if self.standing:
            parts.append(translation)
        pose = np.concatenate(parts, axis=1).astype(np.float32)
        return pose, np.asarray(params["expression"], np.float32)

    def decode(self, pose: np.ndarray, face: np.ndarray, identity: ClipIdentity) -> dict[str, np.ndarray]:
        """P (T, pose_dim), F (T, 10) -> SMPL-X parameters per frame, with the clip's fixed shape and orientation.

        Keys as <clip>/smplx/params.npz; `smplx.SMPLX(..., use_pca=False)`
        consumes them directly (batch size T).
        """
        pose = np.asarray(pose, np.float32)
        s = self.slices
        t = len(pose)
        if self.standing:
            transl = identity.translation.denormalise(pose[:, s["standing_translation"]])
        else:
            transl = identity.translation.denormalise(pose[:, s["translation"]])
        params = {
            "betas": identity.betas.copy(),
            "global_orient": np.tile(identity.global_orient, (t, 1)),
            "transl": transl,
            "body_pose": self.body.decode(pose[:, s["body"]]),
            "jaw_pose": np.tile(identity.jaw_pose, (t, 1)),
            "left_hand_pose": self.left_hand.decode(pose[:, s["left_hand"]]),
            "right_hand_pose": self.right_hand.decode(pose[:, s["right_hand"]]),
            "expression": np.asarray(face, np.float32),
        }
        if identity.camera is not None:
            params["camera_translation"] = identity.camera.denormalise(pose[:, s["translation"]])
        return params

    # Saving as plain tensors + a JSON description.
    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {}
        if self.body.kind == "vposer":
            for key, value in self.body.model.state_dict().items():
                tensors[f"body.vposer.{key}"] = value
        else:
            tensors["body.mean"], tensors["body.basis"] = self.body.mean, self.body.basis
        for name in ("left_hand", "right_hand"):
            code: LinearCode = getattr(self, name)
            tensors[f"{name}.mean"] = code.mean
            tensors[f"{name}.basis"] = code.basis
        tensors["audio.mean"] = torch.as_tensor(self.audio_mean)
        tensors["audio.std"] = torch.as_tensor(self.audio_std)
        if self.audio_heard is not None:
            tensors["audio.heard"] = torch.as_tensor(self.audio_heard)
        for i, clip in enumerate(self.clips):
            tensors[f"clip{i}.betas"] = torch.as_tensor(clip.betas)
            tensors[f"clip{i}.global_orient"] = torch.as_tensor(clip.global_orient)
            tensors[f"clip{i}.jaw_pose"] = torch.as_tensor(clip.jaw_pose)
            tensors[f"clip{i}.transl_mean"] = torch.as_tensor(clip.translation.mean)
            tensors[f"clip{i}.transl_std"] = torch.as_tensor(clip.translation.std)
            if clip.camera is not None:
                tensors[f"clip{i}.camera_mean"] = torch.as_tensor(clip.camera.mean)
                tensors[f"clip{i}.camera_std"] = torch.as_tensor(clip.camera.std)
        meta = {
            "body": {"kind": self.body.kind, "dim": self.body.dim},
            "hands": {"kind": self.left_hand.kind, "dim": self.left_hand.dim},
            "standing": self.standing,
            "pose_dim": self.pose_dim,
            "layout": {k: [v.start, v.stop] for k, v in self.slices.items()},
            "clips": [clip.name for clip in self.clips],
        }
        tensors = {k: v.detach().cpu().float().contiguous() for k, v in tensors.items()}
        return tensors, meta

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict) -> "Codecs":
        def code(name: str, kind: str) -> LinearCode:
            return LinearCode(tensors[f"{name}.mean"], tensors[f"{name}.basis"], kind)

        def arr(key: str) -> np.ndarray:
            return tensors[key].numpy().astype(np.float32)

        clips = []
        for i, name in enumerate(meta["clips"]):
            camera = None
            if f"clip{i}.camera_mean" in tensors:
                camera = TranslationNorm(arr(f"clip{i}.camera_mean"), arr(f"clip{i}.camera_std"))
            clips.append(ClipIdentity(
                name=name,
                betas=arr(f"clip{i}.betas"),
                global_orient=arr(f"clip{i}.global_orient"),
                jaw_pose=arr(f"clip{i}.jaw_pose"),
                translation=TranslationNorm(arr(f"clip{i}.transl_mean"), arr(f"clip{i}.transl_std")),
                camera=camera,
            ))
        if meta["body"]["kind"] == "vposer":
            vposer = VPoserV1()
            prefix = "body.vposer."
            vposer.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            body = VPoserCode(vposer)
        else:
            body = code("body", meta["body"]["kind"])
        return cls(
            body=body,
            left_hand=code("left_hand", meta["hands"]["kind"]),
            right_hand=code("right_hand", meta["hands"]["kind"]),
            audio_mean=arr("audio.mean"),
            audio_std=arr("audio.std"),
            standing=bool(meta["standing"]),
            clips=clips,
            audio_heard=arr("audio.heard") if "audio.heard" in tensors else None,  # older models heard all
        )


@dataclass(frozen=True)
class ManoHands:
    """MANO hand PCA to pass through: components (≥12, 45) per hand; hand poses relative to the hand mean.

    With `smplx.SMPLX(use_pca=True, num_pca_comps=12)` a fitted hand pose is
    exactly coeffs @ components[:12] (smplx adds the mean itself), so the
    passthrough code has zero mean and recovers the fit's coefficients.
    """

    left: np.ndarray
    right: np.ndarray


def mano_hands_from_smplx_npz(path: Path) -> ManoHands:
    """Read the hand PCA of a licensed SMPLX_*.npz (keys hands_componentsl / hands_componentsr)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return ManoHands(np.asarray(data["hands_componentsl"]), np.asarray(data["hands_componentsr"]))
    except (OSError, ValueError, KeyError) as error:
        raise Dr2Error(f"cannot read MANO hand components from {path} ({error}); give a SMPL-X model .npz") from None


def fit_codecs(
    params_list: list[dict],
    features_list: list[np.ndarray],
    standing: bool = False,
    mano: ManoHands | None = None,
    vposer=None,
    body_dim: int = BODY_CODE_DIM,
    hand_dim: int = HAND_CODE_DIM,
    audio_heard: np.ndarray | None = None,
) -> Codecs:
    """Learn the body/hand codes and the audio normalisation from all training clips.

    params_list: one dict per clip with PARAM_KEYS; features_list: (T, A) per clip.
    `vposer` (a `vposer.VPoserV1`) replaces the learned body code by its latent;
    `mano` passes MANO's hand PCA through instead of learning hand codes;
    `audio_heard` (A,) marks the feature channels the network hears (None: all).
    Clip identities are added by `dataset.clip_arrays_from_params`.
    """
    if vposer is not None:
        body = VPoserCode(vposer)
    else:
        body = fit_linear_code(np.concatenate([p["body_pose"] for p in params_list]), body_dim)
    if mano is not None:
        zero = np.zeros(HAND_POSE_DIM, np.float32)
        left = LinearCode(zero, np.asarray(mano.left[:hand_dim], np.float32), kind="mano")
        right = LinearCode(zero, np.asarray(mano.right[:hand_dim], np.float32), kind="mano")
    else:
        left = fit_linear_code(np.concatenate([p["left_hand_pose"] for p in params_list]), hand_dim)
        right = fit_linear_code(np.concatenate([p["right_hand_pose"] for p in params_list]), hand_dim)
    audio = np.concatenate(features_list).astype(np.float64)
    audio_std = np.maximum(audio.std(axis=0), 1e-4)
    heard = None if audio_heard is None else np.asarray(audio_heard, np.float32)
    return Codecs(body, left, right, audio.mean(axis=0).astype(np.float32), audio_std.astype(np.float32), standing,
                  audio_heard=heard)
