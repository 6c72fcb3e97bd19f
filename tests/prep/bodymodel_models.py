"""Helpers for the body-model tests: one shared model cache, random poses, smplx's keypoints."""

from __future__ import annotations

from pathlib import Path

import torch

from dr2prep.bodymodel.openpose_correspondence import OPENPOSE_FROM_SMPLX

POSE_SIZES = {"global_orient": 3, "body_pose": 63, "jaw": 3, "left_hand": 45, "right_hand": 45, "face": 10, "transl": 3}
POSE_SCALES = {
    "global_orient": 1.0, "body_pose": 0.4, "jaw": 0.2, "left_hand": 0.4, "right_hand": 0.4, "face": 1.0, "transl": 1.0,
}


def shared_cache(tmp_path_factory) -> Path:
    """One cache dir per test session, so the open body is built once for all modules."""
    return tmp_path_factory.getbasetemp() / "dr2-bodymodel-cache"


def random_pose(batch: int, seed: int, dtype=torch.float64) -> dict[str, torch.Tensor]:
    """Random SMPL-X parameters in dr2's naming (FastForward's keyword arguments)."""
    generator = torch.Generator().manual_seed(seed)
    return {
        name: torch.randn(batch, size, generator=generator, dtype=dtype) * POSE_SCALES[name]
        for name, size in POSE_SIZES.items()
    }


def smplx_keypoints(layer, pose: dict[str, torch.Tensor], betas: torch.Tensor):
    """smplx's full forward pass: (B, 137, 3) keypoints in dr2's order and (B, 55, 3) joints."""
    batch = pose["global_orient"].shape[0]
    zeros = torch.zeros(batch, 3, dtype=betas.dtype)
    output = layer(
        betas=betas.reshape(1, -1).expand(batch, -1),
        global_orient=pose["global_orient"],
        body_pose=pose["body_pose"],
        jaw_pose=pose["jaw"],
        leye_pose=zeros,
        reye_pose=zeros,
        left_hand_pose=pose["left_hand"],
        right_hand_pose=pose["right_hand"],
        expression=pose["face"],
        transl=pose["transl"],
    )
    return output.joints[:, OPENPOSE_FROM_SMPLX], output.joints[:, :55]
