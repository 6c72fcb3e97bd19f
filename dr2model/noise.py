"""Eq. 1 of the supplementary: smooth Gaussian noise on the initial state and the target's start.

The initial state is shifted by ξ ~ N(0, σ) and the target sequence by
max(0, 1 − t/m)·ξ, so the target still starts exactly at the (noised) initial
state and returns to the ground truth after m frames.
"""

from __future__ import annotations

import torch

NOISE_RANGE = 10  # m in Eq. 1 (frames)
DEFAULT_SIGMA = 0.2  # the paper's range is [0.1, 0.3]


def ramp_weights(length: int, span: int = NOISE_RANGE, device=None, dtype=torch.float32) -> torch.Tensor:
    """max(0, 1 − t/span) for t = 0..length−1: (length,). Frame 0 gets the full offset, frames ≥ span none.

    Eq. 1 (training noise, span m) and Eq. 2 (synthesis smoothing, span k) share this ramp.
    """
    t = torch.arange(length, device=device, dtype=dtype)
    return torch.clamp(1.0 - t / span, min=0.0)


def apply_start_offset(sequence: torch.Tensor, offset: torch.Tensor, span: int = NOISE_RANGE) -> torch.Tensor:
    """sequence (..., T, D) + ramp(T)·offset (..., D): the start moves by `offset`, fading out over `span` frames."""
    weights = ramp_weights(sequence.shape[-2], span, sequence.device, sequence.dtype)
    return sequence + weights[:, None] * offset.unsqueeze(-2)


def add_state_noise(
    sequence: torch.Tensor, sigma: float, generator: torch.Generator | None = None, span: int = NOISE_RANGE
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 1 on a batch of target sequences.

    sequence: (B, T, D) ground-truth pose states. Returns (noised target
    (B, T, D), initial state (B, D) = target[:, 0], ξ (B, D)). σ = 0 gives the
    sequence back unchanged.
    """
    xi = torch.randn(sequence.shape[0], sequence.shape[-1], generator=generator, dtype=sequence.dtype)
    xi = (xi * sigma).to(sequence.device)
    noised = apply_start_offset(sequence, xi, span)
    return noised, noised[:, 0], xi
