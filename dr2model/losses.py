"""Training losses of the paired and unpaired branches, with configurable weights.

The main paper's loss formulas are not public; this is dr2's choice (why, per term):

Paired branch (A_x, P_{x,1}) -> (P̂_x, F̂_x), ground truth known:
  pair_pose   L1(P̂_x, P_x^G)            P_x^G carries Eq. 1's noise, so it starts at the noised P_{x,1}.
  pair_face   L1(F̂_x, F_x)
Unpaired branch (A_x, P_{y,1}) -> (P̂_y, F̂_y), no ground truth for this pairing:
  unpaired_start     ramp-weighted L1(P̂_y, P_y^G) over the first m frames (weights max(0, 1 − t/m)).
                     The window must begin at the state it was given and leave it the way the
                     bank's sequence did: this is what makes recurrent windows join without a jump,
                     for any state, not only the ones paired with this audio.
  unpaired_velocity  L1(P̂_y[t+1] − P̂_y[t], P_x^G[t+1] − P_x^G[t]): the motion comes from the audio
                     (beats, strokes), the posture from the initial state (DR²'s disentanglement):
                     the same audio drives the same movement from another posture.
  unpaired_face      L1(F̂_y, F_x): the face is not part of the pose state, so it depends on the
                     audio alone and must not change with the initial state.
  unpaired_posture   L1(P̂_y, P_x^G + (P_{y,1} − P_{x,1})) from frame m on (weights min(1, t/m)): the paired
                     motion carried over to the unpaired posture for the whole window. The velocity term
                     alone lets the posture drift back to the one the training audio was paired with, so
                     the network learns to ignore its initial state and every sample converges to the same
                     gestures (measured: 4 mm apart on the demo). Weight 0 is the loss set without it.
                     On its own it did not keep samples apart (6 mm on the demo): what does is the decoders
                     giving the pose relative to the initial state (NetworkConfig.relative_pose, dr2's default).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dr2model.noise import NOISE_RANGE, ramp_weights


@dataclass(frozen=True)
class LossWeights:
    pair_pose: float = 1.0
    pair_face: float = 1.0
    unpaired_start: float = 1.0
    unpaired_velocity: float = 1.0
    unpaired_face: float = 0.5
    unpaired_posture: float = 1.0


def l1(a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean L1 of (B, T, D) sequences, over the frames marked in `valid` (B, T) when given."""
    if valid is None:
        return (a - b).abs().mean()
    per_frame = (a - b).abs().mean(dim=-1)
    return (per_frame * valid).sum() / valid.sum().clamp(min=1)


def start_l1(pred: torch.Tensor, target: torch.Tensor, span: int = NOISE_RANGE) -> torch.Tensor:
    """Ramp-weighted L1 over the first `span` frames: (B, T, D) -> scalar; frame 0 counts fully."""
    weights = ramp_weights(min(span, pred.shape[-2]), span, pred.device, pred.dtype)
    diff = (pred[..., : len(weights), :] - target[..., : len(weights), :]).abs().mean(dim=-1)
    return (diff * weights).sum(dim=-1).mean() / weights.sum()


def velocity_l1(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between frame-to-frame differences of two (B, T, D) sequences (a step counts when both its frames do)."""
    step_valid = None if valid is None else valid[..., 1:] & valid[..., :-1]
    return l1(pred[..., 1:, :] - pred[..., :-1, :], target[..., 1:, :] - target[..., :-1, :], step_valid)


def posture_l1(pred: torch.Tensor, target: torch.Tensor, span: int = NOISE_RANGE,
               valid: torch.Tensor | None = None) -> torch.Tensor:
    """L1 over (B, T, D) sequences weighted min(1, t/span): nothing at frame 0, fully from frame `span` on."""
    weights = 1.0 - ramp_weights(pred.shape[-2], span, pred.device, pred.dtype)
    weights = weights.expand(pred.shape[:-1]) if valid is None else weights * valid
    per_frame = (pred - target).abs().mean(dim=-1)
    return (per_frame * weights).sum() / weights.sum().clamp(min=1e-6)


def gesture_losses(
    pred_pose: torch.Tensor,
    pred_face: torch.Tensor,
    target_pose: torch.Tensor,
    target_face: torch.Tensor,
    pred_pose_unpaired: torch.Tensor,
    pred_face_unpaired: torch.Tensor,
    target_pose_unpaired: torch.Tensor,
    weights: LossWeights = LossWeights(),
    span: int = NOISE_RANGE,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """All terms (detached, for logging) and their weighted sum. Poses (B, T, D), faces (B, T, 10).

    `valid` (B, T) marks the frames of the paired window that lie in its shot (None: all); the unpaired
    start loss needs only the first `span` frames, which the state bank always has.
    """
    terms = {
        "pair_pose": l1(pred_pose, target_pose, valid),
        "pair_face": l1(pred_face, target_face, valid),
        "unpaired_start": start_l1(pred_pose_unpaired, target_pose_unpaired, span),
        "unpaired_velocity": velocity_l1(pred_pose_unpaired, target_pose, valid),
        "unpaired_face": l1(pred_face_unpaired, target_face, valid),
    }
    if weights.unpaired_posture:  # (skipped at weight 0, so that setting trains exactly as before)
        carried = target_pose + (target_pose_unpaired[..., :1, :] - target_pose[..., :1, :])
        terms["unpaired_posture"] = posture_l1(pred_pose_unpaired, carried, span, valid)
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    return total, {name: value.detach() for name, value in terms.items()}
