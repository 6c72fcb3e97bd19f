"""A result .npz as a skeleton animation: rest joints of its betas, local joint rotations, root path, in a y-up world.

Reads `dr2 synth` outputs and a clip's smplx/params.npz (both are SMPL-X forward arguments in the
fit's camera frame: x right, y down, z away from the camera). Exporters write the same motion turned
into glTF's frame (y up, the speaker facing +z) by WORLD_FROM_CAMERA.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from dr2prep.bodymodel import skeleton
from dr2common.errors import Dr2Error
from dr2common.rates import FPS
from dr2common.smplx_params import NUM_BETAS

# Camera frame (y down, z forward) -> y-up world with the speaker (who faces the camera) facing +z.
WORLD_FROM_CAMERA = np.diag([1.0, -1.0, -1.0])
POSE_KEYS = ("global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose", "left_hand_pose", "right_hand_pose")
REQUIRED_KEYS = ("betas", "global_orient", "body_pose", "transl")


@dataclass(frozen=True)
class Motion:
    """One SMPL-X sequence as a skeleton animation (T frames, 55 joints), in the y-up world.

    local_rotvecs[t, j] is joint j's rotation relative to its parent as axis-angle (radians), hands
    included with their mean (full rotations); the root's is in the world. root_position[t] is the
    pelvis in metres. rest_joints are the model's joints for `betas` with every rotation zero.
    """

    rest_joints: np.ndarray  # (55, 3) metres, model frame (= world at rest)
    local_rotvecs: np.ndarray  # (T, 55, 3)
    root_position: np.ndarray  # (T, 3)
    betas: np.ndarray  # (10,)
    fps: float
    params: dict  # the npz's arrays as read (camera frame), for exporters that keep SMPL-X's layout
    hand_mean: np.ndarray  # (30, 3) left then right, what smplx adds to the stored hand poses

    @property
    def frames(self) -> int:
        return len(self.local_rotvecs)

    @property
    def parents(self) -> tuple[int, ...]:
        return skeleton.PARENTS

    @property
    def joint_names(self) -> tuple[str, ...]:
        return skeleton.JOINT_NAMES

    def local_matrices(self) -> np.ndarray:
        """(T, 55, 3, 3) local rotation matrices."""
        flat = Rotation.from_rotvec(self.local_rotvecs.reshape(-1, 3)).as_matrix()
        return flat.reshape(self.frames, skeleton.NUM_JOINTS, 3, 3)

    def world_joints(self) -> np.ndarray:
        """(T, 55, 3) joint positions by forward kinematics (what a skinned skeleton shows)."""
        local = self.local_matrices()
        offsets = self.rest_joints - self.rest_joints[np.maximum(np.array(self.parents), 0)]
        rotations = np.zeros_like(local)
        positions = np.zeros((self.frames, skeleton.NUM_JOINTS, 3))
        for j, parent in enumerate(self.parents):
            if parent < 0:
                rotations[:, j], positions[:, j] = local[:, j], self.root_position
            else:
                rotations[:, j] = rotations[:, parent] @ local[:, j]
                positions[:, j] = positions[:, parent] + np.einsum("tij,j->ti", rotations[:, parent], offsets[j])
        return positions


def read_result(path: Path) -> dict[str, np.ndarray]:
    """A result's arrays (never unpickled), checked for the keys every exporter needs."""
    path = Path(path)
    if not path.is_file():
        raise Dr2Error(f"{path} does not exist; give a `dr2 synth` output .npz or a clip's smplx/params.npz")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise Dr2Error(f"cannot read {path} as .npz ({error}); give a `dr2 synth` output "
                       f"or a clip's smplx/params.npz") from None
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise Dr2Error(f"{path} has no {', '.join(missing)}: not SMPL-X parameters; give a `dr2 synth` output "
                       f"or a clip's smplx/params.npz")
    frames = len(arrays["global_orient"])
    for key in POSE_KEYS + ("transl",):
        if key in arrays and (arrays[key].ndim != 2 or len(arrays[key]) != frames):
            raise Dr2Error(f"{path}: '{key}' has shape {arrays[key].shape}, expected ({frames}, ·); "
                           f"synthesise or fit it again")
    if frames == 0:
        raise Dr2Error(f"{path} holds no frames; synthesise a longer speech")
    return arrays


def result_fps(path: Path, arrays: dict[str, np.ndarray]) -> float:
    """The frame rate: params.npz's `fps`, else the synth sidecar .json's, else dr2's 30."""
    if "fps" in arrays:
        return float(arrays["fps"])
    sidecar = Path(path).with_suffix(".json")
    if sidecar.is_file():
        try:
            return float(json.loads(sidecar.read_text()).get("fps", FPS))
        except (ValueError, TypeError):
            pass
    return float(FPS)


def result_betas(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """(10,) betas: synth outputs repeat them per frame, params.npz stores them once."""
    betas = np.zeros(NUM_BETAS)
    given = np.asarray(arrays["betas"], np.float64)
    given = given[0] if given.ndim == 2 else given
    betas[: min(NUM_BETAS, len(given))] = given[:NUM_BETAS]
    return betas


def rest_geometry(body, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) rest vertices and (55, 3) rest joints of the body model for these betas (no expression)."""
    arrays = body.arrays()
    vertices = arrays.v_template.astype(np.float64) + arrays.shape_dirs.astype(np.float64) @ betas
    joints = arrays.j_regressor.astype(np.float64) @ vertices
    return vertices, joints


def load_motion(path: Path, body) -> Motion:
    """The result at `path` as a Motion on `body` (a loaded BodyModel; it gives rest joints and hand means)."""
    arrays = read_result(path)
    kind = str(arrays["model_kind"]) if "model_kind" in arrays else None
    if kind is not None and kind != body.kind:
        raise Dr2Error(f"{path} was fitted with the {kind} body but the {body.kind} body is loaded; "
                       f"pass the same model with --smplx-model")
    frames = len(arrays["global_orient"])
    betas = result_betas(arrays)
    _, rest_joints = rest_geometry(body, betas)
    hand_mean = np.concatenate([body.hand_mean_left, body.hand_mean_right]).reshape(30, 3)

    def pose(key: str, joints: int) -> np.ndarray:
        value = arrays.get(key)
        if value is None:
            return np.zeros((frames, joints, 3))
        return np.asarray(value, np.float64).reshape(frames, joints, 3)

    hands = np.concatenate([pose("left_hand_pose", 15), pose("right_hand_pose", 15)], axis=1) + hand_mean
    rotvecs = np.concatenate([
        pose("global_orient", 1), pose("body_pose", skeleton.NUM_BODY_JOINTS), pose("jaw_pose", 1),
        pose("leye_pose", 1), pose("reye_pose", 1), hands,
    ], axis=1)
    world = Rotation.from_matrix(WORLD_FROM_CAMERA)
    rotvecs[:, 0] = (world * Rotation.from_rotvec(rotvecs[:, 0])).as_rotvec()
    # smplx turns the body about the rest pelvis and then adds transl: the pelvis sits at J0 + transl.
    root = (rest_joints[0] + np.asarray(arrays["transl"], np.float64).reshape(frames, 3)) @ WORLD_FROM_CAMERA.T
    return Motion(rest_joints=rest_joints, local_rotvecs=rotvecs, root_position=root, betas=betas,
                  fps=result_fps(path, arrays), params=arrays, hand_mean=hand_mean)
