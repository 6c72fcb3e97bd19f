"""The terms of the fitting objective in residual form: robust reprojection, priors, motion.

Every prior is a residual vector per frame whose squares sum to the term, and the
data term is Geman-McClure-robust squared residuals, so the objective serves both
as a sum (the loss) and as residuals with a Jacobian (Gauss-Newton, with the
robustifier's slope as an iteratively reweighted least-squares weight).
"""

from __future__ import annotations

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
    """(B, 3) sin(angle) · axis of the rotation from upright-facing-the-camera to global_orient (B, 3).

    People sit and stand upright; with the legs out of view, the pelvis's pitch is otherwise
    free to take up any bend of the spine.
    """
    facing = batch_rodrigues(global_orient.new_tensor([FACING_CAMERA]))[0]
    relative = facing.T @ batch_rodrigues(global_orient)
    skew = relative - relative.transpose(1, 2)
    return 0.5 * torch.stack([skew[:, 2, 1], skew[:, 0, 2], skew[:, 1, 0]], dim=1)


def squared_norm(values: torch.Tensor) -> torch.Tensor:
    """(B,) ‖v‖² per frame."""
    return (values.reshape(values.shape[0], -1) ** 2).sum(dim=-1)
