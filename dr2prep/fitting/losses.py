"""The terms of the fitting objective in residual form: robust reprojection, priors, motion.

Every prior is a residual vector per frame whose squares sum to the term, and the
data term is Geman-McClure-robust squared residuals, so the objective serves both
as a sum (the loss) and as residuals with a Jacobian (Gauss-Newton, with the
robustifier's slope as an iteratively reweighted least-squares weight).
"""

from __future__ import annotations

import math

import torch
from smplx.lbs import batch_rodrigues

from dr2prep.fitting.camera import FACING_CAMERA

# body_pose indices (of the 63) that SMPLify's bending prior watches: elbows about y, knees about x,
# with the sign that makes a bend the wrong way positive (SMPLify-X's angle prior's indices and signs).
BEND_INDICES = (52, 55, 9, 12)
BEND_SIGNS = (1.0, -1.0, -1.0, -1.0)


def gmof(squared_residual: torch.Tensor, rho: float) -> torch.Tensor:
    """Geman-McClure robustifier: about the squared residual when small, at most rho² when large."""
    return rho**2 * squared_residual / (rho**2 + squared_residual)


def gmof_slope(squared_residual: torch.Tensor, rho: float) -> torch.Tensor:
    """d gmof / d(squared residual): the weight iteratively reweighted least squares gives a residual."""
    return rho**4 / (rho**2 + squared_residual) ** 2


def bending(body_pose: torch.Tensor) -> torch.Tensor:
    """(B, 4) radians by which elbows and knees bend backwards (0 when they bend the right way).

    SMPLify's exp(±θ)² also pushes every elbow and knee to bend further forwards (its
    slope never vanishes), which a weak pose prior lets it do; a hinge only forbids.
    """
    signs = body_pose.new_tensor(BEND_SIGNS)
    return torch.relu(body_pose[:, list(BEND_INDICES)] * signs)


def tilt(global_orient: torch.Tensor) -> torch.Tensor:
    """(B, 9) (R - I) / sqrt(2) for R the rotation from upright-facing-the-camera to global_orient (B, 3).

    People sit and stand upright; with the legs out of view, the pelvis's pitch is otherwise
    free to take up any bend of the spine. Its squared norm, 2 (1 - cos angle), is the angle
    squared for small angles and grows all the way to a half turn (a sin(angle) residual
    vanishes there, and let a body facing away from the camera pass as upright).
    """
    facing = batch_rodrigues(global_orient.new_tensor([FACING_CAMERA]))[0]
    relative = facing.T @ batch_rodrigues(global_orient)
    identity = torch.eye(3, dtype=relative.dtype, device=relative.device)
    return (relative - identity).reshape(-1, 9) / math.sqrt(2.0)


def squared_norm(values: torch.Tensor) -> torch.Tensor:
    """(B,) ‖v‖² per frame."""
    return (values.reshape(values.shape[0], -1) ** 2).sum(dim=-1)
