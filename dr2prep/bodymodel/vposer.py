"""VPoser v1.0 as a body code: the user's snapshot read with torch.load(weights_only=True) into our own network.

The authors' release encoded body poses with VPoser v1.0 (32-dim latent).
The layer names and sizes below are those of the v1.0 snapshot
(`vposer_v1_0/snapshots/TR00_E096.pt`, a plain state dict): encoder
BN(63) -> FC 512 -> LeakyReLU(0.2) -> BN -> FC 512 -> LeakyReLU -> μ (32);
decoder FC 512 -> LeakyReLU -> FC 512 -> LeakyReLU -> FC 126 -> 21 rotations
from the 6-D continuous representation.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dr2common.errors import Dr2Error

LATENT_DIM = 32
HIDDEN = 512
BODY_JOINTS = 21
LEAKY_SLOPE = 0.2


class VPoserV1(nn.Module):
    """Deterministic VPoser v1.0: encode -> latent mean, decode -> axis-angle body pose (no dropout, eval BN)."""

    def __init__(self):
        super().__init__()
        n = BODY_JOINTS * 3
        self.bodyprior_enc_bn1 = nn.BatchNorm1d(n)
        self.bodyprior_enc_fc1 = nn.Linear(n, HIDDEN)
        self.bodyprior_enc_bn2 = nn.BatchNorm1d(HIDDEN)
        self.bodyprior_enc_fc2 = nn.Linear(HIDDEN, HIDDEN)
        self.bodyprior_enc_mu = nn.Linear(HIDDEN, LATENT_DIM)
        self.bodyprior_enc_logvar = nn.Linear(HIDDEN, LATENT_DIM)
        self.bodyprior_dec_fc1 = nn.Linear(LATENT_DIM, HIDDEN)
        self.bodyprior_dec_fc2 = nn.Linear(HIDDEN, HIDDEN)
        self.bodyprior_dec_out = nn.Linear(HIDDEN, BODY_JOINTS * 6)
        self.eval()

    def encode(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(N, 63) axis-angle -> (N, 32) latent mean."""
        x = self.bodyprior_enc_bn1(body_pose)
        x = F.leaky_relu(self.bodyprior_enc_fc1(x), LEAKY_SLOPE)
        x = self.bodyprior_enc_bn2(x)
        x = F.leaky_relu(self.bodyprior_enc_fc2(x), LEAKY_SLOPE)
        return self.bodyprior_enc_mu(x)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """(N, 32) -> (N, 63) axis-angle."""
        x = F.leaky_relu(self.bodyprior_dec_fc1(latent), LEAKY_SLOPE)
        x = F.leaky_relu(self.bodyprior_dec_fc2(x), LEAKY_SLOPE)
        matrices = rotation_from_6d(self.bodyprior_dec_out(x).reshape(-1, 3, 2))
        return matrix_to_axis_angle(matrices).reshape(latent.shape[0], BODY_JOINTS * 3)


def rotation_from_6d(x: torch.Tensor) -> torch.Tensor:
    """(..., 3, 2) two columns -> (..., 3, 3) rotation by Gram–Schmidt (Zhou et al.'s continuous representation)."""
    b1 = F.normalize(x[..., 0], dim=-1)
    b2 = F.normalize(x[..., 1] - (b1 * x[..., 1]).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations -> (..., 3) axis-angle, through a numerically safe quaternion."""
    m = matrix
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = torch.stack([
        torch.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2],
                     m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                     m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                     1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], m[..., 1, 2] + m[..., 2, 1]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                     1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1),
    ], dim=-2)  # (..., 4, 4): each row is 4·q·q_k for one k
    diagonal = torch.stack([candidates[..., k, k] for k in range(4)], -1)
    best = diagonal.argmax(-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = F.normalize(q, dim=-1)
    q = torch.where(q[..., :1] < 0, -q, q)  # w ≥ 0: angle in [0, π]
    sin_half = q[..., 1:].norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, q[..., :1])
    scale = torch.where(sin_half > 1e-8, angle / sin_half.clamp_min(1e-8), torch.full_like(angle, 2.0))
    return q[..., 1:] * scale


def load_vposer_v1(path: Path) -> VPoserV1:
    """Read a VPoser v1.0 snapshot (.pt state dict) without pickle; a clear error for anything else."""
    path = Path(path)
    if path.is_dir():
        snapshots = sorted((path / "snapshots").glob("*.pt"))
        if not snapshots:
            raise Dr2Error(f"{path} has no snapshots/*.pt; give the VPoser v1.0 folder or its TR00_E096.pt")
        path = snapshots[-1]
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unreadable, not a torch file, or needs pickle (unsafe)
        raise Dr2Error(f"cannot read {path} as a VPoser v1.0 snapshot ({type(error).__name__}); "
                       f"give the file TR00_E096.pt from vposer_v1_0/snapshots") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model = VPoserV1()
    try:
        model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
    except (RuntimeError, AttributeError) as error:
        raise Dr2Error(f"{path} is not a VPoser v1.0 snapshot ({str(error).splitlines()[0]})") from None
    return model.eval()

