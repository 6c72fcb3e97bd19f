"""AMASS-style .npz: what the SMPL-X Blender add-on and AMASS tools read.

poses (T, 165) axis-angle: global orient, 21 body joints, jaw, left eye, right eye, 15 left-hand and
15 right-hand joints, hands as full rotations (mean hand added: AMASS's flat_hand_mean=True);
trans (T, 3), betas (10,), gender 'neutral', mocap_frame_rate, surface_model_type 'smplx'. The world
is z-up as in AMASS (the speaker faces -y): smplx.SMPLX(flat_hand_mean=True) posed with these gives
the result's body turned by AMASS_FROM_CAMERA.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from dr2model.export.motion import Motion

# camera frame (x right, y down, z away from the camera) -> z-up: a quarter turn about x
AMASS_FROM_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def amass_arrays(motion: Motion) -> dict[str, np.ndarray]:
    """The AMASS layout of `motion` (built from the npz's own parameters, not the y-up export frame)."""
    params, frames = motion.params, motion.frames

    def pose(key: str, size: int) -> np.ndarray:
        value = params.get(key)
        return np.zeros((frames, size)) if value is None else np.asarray(value, np.float64).reshape(frames, size)

    orient = Rotation.from_matrix(AMASS_FROM_CAMERA) * Rotation.from_rotvec(pose("global_orient", 3))
    hands = np.concatenate([pose("left_hand_pose", 45), pose("right_hand_pose", 45)], axis=1)
    hands += motion.hand_mean.reshape(1, 90)
    poses = np.concatenate([orient.as_rotvec(), pose("body_pose", 63), pose("jaw_pose", 3), pose("leye_pose", 3),
                            pose("reye_pose", 3), hands], axis=1)
    # smplx turns about the rest pelvis J0, then adds trans: keep the pelvis where the turn puts it
    pelvis = motion.rest_joints[0]
    trans = (pelvis + pose("transl", 3)) @ AMASS_FROM_CAMERA.T - pelvis
    return {
        "poses": poses.astype(np.float32),
        "trans": trans.astype(np.float32),
        "betas": motion.betas.astype(np.float32),
        "gender": np.str_("neutral"),
        "mocap_frame_rate": np.float32(motion.fps),
        "surface_model_type": np.str_("smplx"),
    }


def write_amass(motion: Motion, path: Path) -> Path:
    """Write the AMASS-style .npz at `path`; returns the path."""
    with open(path, "wb") as f:
        np.savez(f, **amass_arrays(motion))
    return Path(path)
