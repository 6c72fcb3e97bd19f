"""A random model in SMPL-X's file format, for tests and benchmarks that need "kind smplx".

It has everything a licensed SMPLX_NEUTRAL.npz has that the open body lacks (pose
correctives, smooth skinning weights, a yaw-dependent contour, MANO hand PCA, 300+100 shape
and expression directions, pickled extras) but no meaningful shape: never fit people with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dr2prep.bodymodel import skeleton

NUM_VERTICES = 10475  # SMPL-X's vertex count: smplx reads OpenPose points at fixed vertex ids
NUM_FACES = 20908


def synthetic_smplx_arrays(seed: int = 0, *, shape_space: int = 400, pickled_extras: bool = False) -> dict:
    """Arrays of a random SMPL-X-format model (shape_space 400 = 300 shape + 100 expression, or 20)."""
    rng = np.random.default_rng(seed)
    joint_rest = _plausible_joints()
    owner = rng.integers(0, skeleton.NUM_JOINTS, NUM_VERTICES)
    v_template = joint_rest[owner] + rng.normal(0.0, 0.03, (NUM_VERTICES, 3))

    j_regressor = np.zeros((skeleton.NUM_JOINTS, NUM_VERTICES))
    for j in range(skeleton.NUM_JOINTS):
        members = np.flatnonzero(owner == j)[:12]
        j_regressor[j, members] = rng.dirichlet(np.ones(len(members)))

    weights = np.zeros((NUM_VERTICES, skeleton.NUM_JOINTS))
    parents = np.array(skeleton.PARENTS)
    rows = np.arange(NUM_VERTICES)
    weights[rows, owner] += 0.7
    weights[rows, np.maximum(parents[owner], 0)] += 0.2
    weights[rows, rng.integers(0, skeleton.NUM_JOINTS, NUM_VERTICES)] += 0.1

    faces = rng.integers(0, NUM_VERTICES, (NUM_FACES, 3))
    candidates = rng.integers(0, NUM_FACES, (skeleton.NUM_CONTOUR_LANDMARKS, 6))
    dynamic_faces = candidates[:, np.arange(skeleton.NUM_CONTOUR_BINS) * 6 // skeleton.NUM_CONTOUR_BINS].T

    hand_components = [np.linalg.qr(rng.normal(size=(45, 45)))[0].T for _ in range(2)]
    kintree = np.stack([parents, np.arange(skeleton.NUM_JOINTS)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # as in SMPL-X's release
    arrays = {
        "v_template": v_template,
        "shapedirs": rng.normal(0.0, 0.01, (NUM_VERTICES, 3, shape_space)).astype(np.float32),
        "posedirs": rng.normal(0.0, 0.002, (NUM_VERTICES, 3, skeleton.NUM_POSE_BASIS)).astype(np.float32),
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": faces.astype(np.uint32),
        "lmk_faces_idx": rng.integers(0, NUM_FACES, skeleton.NUM_STATIC_LANDMARKS),
        "lmk_bary_coords": rng.dirichlet(np.ones(3), skeleton.NUM_STATIC_LANDMARKS),
        "dynamic_lmk_faces_idx": dynamic_faces,
        "dynamic_lmk_bary_coords": rng.dirichlet(
            np.ones(3), (skeleton.NUM_CONTOUR_BINS, skeleton.NUM_CONTOUR_LANDMARKS)
        ),
        "hands_componentsl": hand_components[0],
        "hands_componentsr": hand_components[1],
        "hands_meanl": rng.normal(0.0, 0.2, 45),
        "hands_meanr": rng.normal(0.0, 0.2, 45),
    }
    if pickled_extras:  # SMPL-X's release also holds two pickled dicts nobody needs
        arrays["joint2num"] = np.array({"pelvis": 0}, dtype=object)
        arrays["part2num"] = np.array({"body": 0}, dtype=object)
    return arrays


def write_synthetic_smplx(path: Path, seed: int = 0, **options) -> Path:
    """Write synthetic_smplx_arrays(seed, **options) as an uncompressed .npz; returns path."""
    np.savez(path, **synthetic_smplx_arrays(seed, **options))
    return Path(path)


def _plausible_joints() -> np.ndarray:
    """(55, 3) rest joints of roughly human proportions, from the tree (x left, y up)."""
    offsets = np.zeros((skeleton.NUM_JOINTS, 3))
    for j, name in enumerate(skeleton.JOINT_NAMES):
        side = 1.0 if name.startswith("left") else -1.0 if name.startswith("right") else 0.0
        if "hip" in name:
            offsets[j] = (0.06 * side, -0.09, 0.0)
        elif any(k in name for k in ("knee", "ankle")):
            offsets[j] = (0.0, -0.4, 0.0)
        elif "foot" in name:
            offsets[j] = (0.0, -0.05, 0.12)
        elif "spine" in name or name == "neck":
            offsets[j] = (0.0, 0.12, 0.0)
        elif "collar" in name:
            offsets[j] = (0.07 * side, 0.1, 0.0)
        elif "shoulder" in name:
            offsets[j] = (0.1 * side, 0.0, 0.0)
        elif any(k in name for k in ("elbow", "wrist")):
            offsets[j] = (0.26 * side, 0.0, 0.0)
        elif name in ("head", "jaw"):
            offsets[j] = (0.0, 0.1, 0.0) if name == "head" else (0.0, -0.03, 0.05)
        elif "eye" in name:
            offsets[j] = (0.03 * (1.0 if "left" in name else -1.0), 0.03, 0.08)
        elif name[-1].isdigit():
            finger = ("thumb", "index", "middle", "ring", "pinky")
            k = next(i for i, f in enumerate(finger) if f in name)
            first = name.endswith("1")
            offsets[j] = (side * (0.09 if first else 0.03), 0.0, (0.04 - 0.02 * k) if first else 0.0)
    joints = np.zeros_like(offsets)
    for j in range(1, skeleton.NUM_JOINTS):
        joints[j] = joints[skeleton.PARENTS[j]] + offsets[j]
    return joints
