"""Loose anatomical limits on SMPL-X finger rotations, for a fitting prior on full 45-dim hands.

mannequin-x's own actuated-joint limits are +-pi on every axis (no information), so dr2
states its own. Limits are on each finger joint's absolute local axis-angle (mean hand +
pose), in radians, for the left hand; the right hand mirrors them (y, z negate).
"""

import numpy as np
import torch

# SMPL-X rest pose: left fingers point along +x, palm down (-y). Flexion (curling towards
# the palm) is a negative rotation about z, spread is about y, twist about x.
# (lower, upper) per axis (x twist, y spread, z flexion), per joint in SMPL-X hand order.
_FINGER = (
    ((-0.60, 0.30), (-0.45, 0.45), (-1.75, 0.45)),  # knuckle (MCP)
    ((-0.50, 0.35), (-0.30, 0.30), (-2.00, 0.15)),  # middle joint (PIP)
    ((-0.55, 0.30), (-0.30, 0.30), (-1.60, 0.25)),  # end joint (DIP)
)
_THUMB = (  # the thumb's axes are oblique to the hand's: wide boxes around the mean hand
    ((-0.20, 1.90), (-0.70, 1.20), (-1.00, 0.80)),
    ((-1.40, 0.40), (-0.60, 0.60), (-0.80, 0.90)),
    ((-0.40, 1.50), (-0.60, 0.60), (-1.40, 0.60)),
)
# SMPL-X hand joint order: index, middle, pinky, ring, thumb (3 joints each).
LEFT_HAND_LIMITS = np.array(_FINGER * 4 + _THUMB)  # (15, 3, 2)
MIRROR = np.array([1.0, -1.0, -1.0])  # right hand = left hand reflected through x = 0


def hand_limits(side: str) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper), each (15, 3): limits on absolute axis-angle of one hand's joints."""
    lower, upper = LEFT_HAND_LIMITS[..., 0], LEFT_HAND_LIMITS[..., 1]
    if side == "left":
        return lower.copy(), upper.copy()
    if side == "right":
        flipped = np.stack([lower * MIRROR, upper * MIRROR])
        return flipped.min(axis=0), flipped.max(axis=0)
    raise ValueError(f"side must be 'left' or 'right', not {side!r}")


def hand_limit_excess(hand_pose: torch.Tensor, hand_mean, side: str) -> torch.Tensor:
    """(B,) sum of squared radians by which mean + hand_pose (B, 45) leaves the limits.

    Zero inside the limits; a fitting prior (weight it like SMPLify's angle prior).
    """
    def tensor(values):
        return torch.as_tensor(np.asarray(values).reshape(-1), dtype=hand_pose.dtype, device=hand_pose.device)

    lower, upper = (tensor(v) for v in hand_limits(side))
    absolute = hand_pose + tensor(hand_mean)
    return (torch.relu(lower - absolute) ** 2 + torch.relu(absolute - upper) ** 2).sum(dim=-1)
