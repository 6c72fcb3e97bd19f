"""The fitting camera: a pinhole at the origin looking down +z, image y pointing down.

The principal point is the image centre. The body starts rotated by pi about x
(SMPL-X's y-up body stands upright in y-down camera space, facing the camera).
"""

from __future__ import annotations

import math

import torch

FACING_CAMERA = (math.pi, 0.0, 0.0)  # global_orient that turns SMPL-X's rest pose to face the camera


def project(points: torch.Tensor, focal_length: float, center: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) camera-space points in metres -> (B, N, 2) pixels."""
    depth = points[..., 2:3].clamp(min=1e-3)
    return focal_length * points[..., :2] / depth + center


def image_center(image_size) -> tuple[float, float]:
    """The principal point: the image centre (width / 2, height / 2), as SMPLify-X."""
    width, height = image_size
    return (width / 2.0, height / 2.0)
