"""The motion autoencoder behind FGD: 34-frame windows of upper-body and finger joints -> a 32-dim latent.

Trained on a model's training motion (its state bank decoded to SMPL-X joints) and stored in the
model directory; Fréchet gesture distances are only comparable under one autoencoder (its digest is reported).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from dr2common.atomic import atomic_path
from dr2prep.fitting.metrics import UPPER_BODY
from dr2common.progress import progress_bar, say

AUTOENCODER_FILE = "fgd_autoencoder.safetensors"
AUTOENCODER_VERSION = "1"
FGD_WINDOW = 34  # frames per motion window (Yoon et al. 2020's FGD)
FGD_STRIDE = 4  # frames between the windows whose latents are compared
LATENT_DIM = 32
HIDDEN = 64
FINGERS = tuple(range(25, 55))  # SMPL-X left and right finger joints
MOTION_JOINTS = UPPER_BODY + FINGERS  # pelvis-relative positions of these joints are the motion
PELVIS = 0
SMPLX_JOINTS = 55  # the skeleton joints of smplx's output (landmarks follow)
JOINT_BATCH = 64  # frames posed at once
TRAIN_STEPS = 400
TRAIN_BATCH = 64
LEARNING_RATE = 1e-3


# --- motion as joints -----------------------------------------------------------------------------------------

def smplx_joints(body, params: dict[str, np.ndarray], batch: int = JOINT_BATCH) -> np.ndarray:
    """`smplx.SMPLX` arguments (T, ·) -> the 55 skeleton joints (T, 55, 3) in metres (camera space).

    Joints only, through the fitting's fast forward pass (equal to smplx's
    joints to float precision, without skinning the whole mesh); the shape
    is the sequence's first betas (constant in fits and synthesis).
    """
    from dr2prep.bodymodel.fast_forward import FastForward

    frames = len(params["body_pose"])
    forward = FastForward(body, np.asarray(params["betas"], np.float64).reshape(frames, -1)[0])

    def column(key: str, start: int, stop: int) -> torch.Tensor:
        return torch.as_tensor(np.asarray(params[key][start:stop], np.float32))

    out = np.empty((frames, SMPLX_JOINTS, 3), np.float32)
    with torch.no_grad():
        for start in range(0, frames, batch):
            stop = min(start + batch, frames)
            result = forward(column("global_orient", start, stop), column("body_pose", start, stop),
                             column("jaw_pose", start, stop), column("left_hand_pose", start, stop),
                             column("right_hand_pose", start, stop), column("expression", start, stop),
                             column("transl", start, stop))
            out[start:stop] = result.joints.numpy()
    return out


def motion_vectors(joints: np.ndarray) -> np.ndarray:
    """(T, 55, 3) joints -> (T, 3·|MOTION_JOINTS|) pelvis-relative positions: what FGD compares."""
    relative = joints[:, list(MOTION_JOINTS)] - joints[:, PELVIS:PELVIS + 1]
    return relative.reshape(len(joints), -1).astype(np.float32)


def windows(motion: np.ndarray, stride: int = FGD_STRIDE, window: int = FGD_WINDOW) -> np.ndarray:
    """(T, D) -> (K, window, D) windows every `stride` frames (none when T < window)."""
    if len(motion) < window:
        return np.empty((0, window, motion.shape[1]), np.float32)
    starts = np.arange(0, len(motion) - window + 1, stride)
    return np.stack([motion[s:s + window] for s in starts])


# --- the network ----------------------------------------------------------------------------------------------

class MotionAutoencoder(nn.Module):
    """(B, 34, D) normalised motion -> latent (B, 32) -> reconstruction (B, 34, D); 1-D convolutions over time."""

    def __init__(self, motion_dim: int, latent_dim: int = LATENT_DIM):
        super().__init__()
        self.motion_dim = motion_dim
        self.encoder = nn.Sequential(
            nn.Conv1d(motion_dim, HIDDEN, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(HIDDEN, HIDDEN, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 34 -> 17
            nn.Conv1d(HIDDEN, HIDDEN, 3, stride=2, padding=1), nn.LeakyReLU(0.2),  # 17 -> 9
            nn.Flatten(), nn.Linear(HIDDEN * 9, latent_dim),
        )
        self.expand = nn.Sequential(nn.Linear(latent_dim, HIDDEN * 9), nn.LeakyReLU(0.2))
        self.decoder = nn.Sequential(
            nn.Upsample(size=17, mode="linear"), nn.Conv1d(HIDDEN, HIDDEN, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Upsample(size=FGD_WINDOW, mode="linear"), nn.Conv1d(HIDDEN, HIDDEN, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(HIDDEN, motion_dim, 3, padding=1),
        )

    def encode(self, motion: torch.Tensor) -> torch.Tensor:
        return self.encoder(motion.transpose(1, 2))

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        hidden = self.expand(self.encode(motion)).reshape(len(motion), HIDDEN, 9)
        return self.decoder(hidden).transpose(1, 2)


@dataclass
class FGDSpace:
    """A trained autoencoder, its input normalisation and the training motion's latent Gaussian."""

    network: MotionAutoencoder
    mean: np.ndarray  # (D,) motion normalisation
    std: np.ndarray  # (D,)
    train_mu: np.ndarray  # (32,) latent mean of the training motion
    train_sigma: np.ndarray  # (32, 32) latent covariance of the training motion
    digest: str  # sha256 of the weights: FGDs are comparable only under the same digest
    reconstruction_error: float  # mean squared error on the training windows (normalised units)

    def latents(self, motion: np.ndarray) -> np.ndarray:
        """(T, D) motion -> (K, 32) latents of its windows every FGD_STRIDE frames."""
        batch = windows(motion)
        if not len(batch):
            return np.empty((0, LATENT_DIM), np.float32)
        normalised = torch.from_numpy((batch - self.mean) / self.std)
        with torch.no_grad():
            return self.network.encode(normalised).numpy()

    def distance_to_training(self, motion_list: list[np.ndarray]) -> float | None:
        """FGD of the motions' windows against the training motion (None when no window fits)."""
        latents = np.concatenate([self.latents(m) for m in motion_list])
        if len(latents) < 2:
            return None
        return frechet_distance(latents.mean(0), np.cov(latents, rowvar=False), self.train_mu, self.train_sigma)

    def distance(self, motion_a: list[np.ndarray], motion_b: list[np.ndarray]) -> float | None:
        """FGD between two sets of motions (None when either has fewer than two windows)."""
        a = np.concatenate([self.latents(m) for m in motion_a])
        b = np.concatenate([self.latents(m) for m in motion_b])
        if len(a) < 2 or len(b) < 2:
            return None
        return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) between two Gaussians (Heusel et al.'s FID formula)."""
    from scipy import linalg

    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as the FID reference does
        offset = np.eye(len(sigma1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


# --- training, saving, loading --------------------------------------------------------------------------------

def train_fgd_space(motions: list[np.ndarray], steps: int = TRAIN_STEPS, seed: int = 0) -> FGDSpace:
    """Train the autoencoder on windows (stride 1) of the training motions (each (T, D)); seeded."""
    every = np.concatenate([windows(m, stride=1) for m in motions])
    if len(every) < 2:
        raise ValueError(f"FGD needs at least {FGD_WINDOW + 1} frames of training motion")
    flat = every.reshape(-1, every.shape[-1]).astype(np.float64)
    mean = flat.mean(0).astype(np.float32)
    std = np.maximum(flat.std(0), 1e-3).astype(np.float32)  # millimetre floor: still joints are not amplified
    data = torch.from_numpy((every - mean) / std)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    network = MotionAutoencoder(every.shape[-1])
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    for _ in progress_bar(range(steps), desc="fgd autoencoder", unit="step"):
        batch = data[torch.randint(len(data), (min(TRAIN_BATCH, len(data)),), generator=generator)]
        loss = torch.mean((network(batch) - batch) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    network.eval()
    with torch.no_grad():
        error = float(torch.mean((network(data) - data) ** 2))
    space = FGDSpace(network, mean, std, np.zeros(LATENT_DIM), np.eye(LATENT_DIM), _digest(network), error)
    latents = np.concatenate([space.latents(m) for m in motions])
    space.train_mu, space.train_sigma = latents.mean(0), np.cov(latents, rowvar=False)
    return space


def _digest(network: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, value in sorted(network.state_dict().items()):
        digest.update(name.encode() + value.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def save_fgd_space(path: Path, space: FGDSpace, data_fingerprint: str) -> None:
    tensors = {f"network.{k}": v.detach().contiguous() for k, v in space.network.state_dict().items()}
    tensors.update({
        "mean": torch.from_numpy(space.mean), "std": torch.from_numpy(space.std),
        "train_mu": torch.from_numpy(np.asarray(space.train_mu, np.float64)),
        "train_sigma": torch.from_numpy(np.asarray(space.train_sigma, np.float64)),
    })
    metadata = {"version": AUTOENCODER_VERSION, "data_fingerprint": data_fingerprint, "digest": space.digest,
                "reconstruction_error": repr(space.reconstruction_error), "joints": ",".join(map(str, MOTION_JOINTS))}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_fgd_space(path: Path, data_fingerprint: str) -> FGDSpace | None:
    """The stored autoencoder when it belongs to this model's training data and this code version, else None."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        if metadata.get("version") != AUTOENCODER_VERSION or metadata.get("data_fingerprint") != data_fingerprint:
            return None
        tensors = load_file(str(path))
    except (SafetensorError, OSError):
        return None
    prefix = "network."
    weights = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    network = MotionAutoencoder(int(tensors["mean"].shape[0]))
    network.load_state_dict(weights)
    network.eval()
    return FGDSpace(network, tensors["mean"].numpy(), tensors["std"].numpy(), tensors["train_mu"].numpy(),
                    tensors["train_sigma"].numpy(), metadata["digest"], float(metadata["reconstruction_error"]))


def training_motions(model, body) -> list[np.ndarray]:
    """The model's training motion, one (T, D) array per clip: its state bank decoded to joints."""
    from dr2model.synthesis import smplx_params

    bank = model.state_bank.numpy()
    clip_of = model.state_bank_clip.numpy()
    motions = []
    for index, identity in enumerate(model.codecs.clips):
        states = bank[clip_of == index]
        if len(states):
            face = np.zeros((len(states), model.network.config.face_dim), np.float32)
            motions.append(motion_vectors(smplx_joints(body, smplx_params(model, states, face, identity))))
    return motions


def fgd_space_for(model_dir: Path, model, body, steps: int = TRAIN_STEPS) -> FGDSpace:
    """The model's FGD autoencoder: loaded from the model directory, or trained on its training motion and stored."""
    path = Path(model_dir) / AUTOENCODER_FILE
    fingerprint = str(model.config.get("data_fingerprint", ""))
    space = load_fgd_space(path, fingerprint)
    if space is not None:
        return space
    say(f"eval: training the FGD motion autoencoder on the model's training motion ({steps} steps)")
    space = train_fgd_space(training_motions(model, body), steps)
    try:
        save_fgd_space(path, space, fingerprint)
    except OSError as error:
        say(f"eval: could not store {path} ({error.strerror}); it will be trained again next time")
    return space
