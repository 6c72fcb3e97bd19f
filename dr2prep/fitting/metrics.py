"""How good a fit is: 3D joint errors against a known truth, and the jitter of a fitted sequence.

Joints are (T, J, 3) arrays in metres; errors come back in millimetres.
"""

from __future__ import annotations

import numpy as np

BODY_JOINTS = 22  # SMPL-X pelvis .. wrists
# What MPJPE is measured on: the joints a gesture fit is about and a speaker's video shows
# (pelvis, spine 1-3, neck, collars, head, shoulders, elbows, wrists); the legs are out of view.
UPPER_BODY = (0, 3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)


def mpjpe(fitted: np.ndarray, truth: np.ndarray, joints=UPPER_BODY) -> np.ndarray:
    """(T,) mean per-joint position error after aligning the pelvis (joint 0), mm."""
    fitted, truth = fitted[:, list(joints)], truth[:, list(joints)]
    return np.linalg.norm((fitted - fitted[:, :1]) - (truth - truth[:, :1]), axis=-1).mean(axis=1) * 1000


def pa_mpjpe(fitted: np.ndarray, truth: np.ndarray, joints=UPPER_BODY) -> np.ndarray:
    """(T,) mean per-joint error after the best similarity transform (Procrustes) per frame, mm."""
    errors = []
    for a, b in zip(fitted[:, list(joints)].astype(np.float64), truth[:, list(joints)].astype(np.float64)):
        a0, b0 = a - a.mean(axis=0), b - b.mean(axis=0)
        u, s, vt = np.linalg.svd(a0.T @ b0)
        d = np.sign(np.linalg.det(u @ vt))
        s[-1] *= d
        u[:, -1] *= d
        rotation = u @ vt
        scale = s.sum() / (a0**2).sum()
        aligned = scale * a0 @ rotation
        errors.append(np.linalg.norm(aligned - b0, axis=-1).mean())
    return np.array(errors) * 1000


def acceleration(joints: np.ndarray) -> np.ndarray:
    """(T-2, J, 3) second differences of joint positions, mm / frame²."""
    return np.diff(joints, n=2, axis=0) * 1000


def acceleration_error(fitted: np.ndarray, truth: np.ndarray, joints=UPPER_BODY) -> float:
    """Mean ‖a_fit − a_true‖ over frames and joints, mm / frame² (camera space: translation counts)."""
    difference = acceleration(fitted[:, list(joints)]) - acceleration(truth[:, list(joints)])
    return float(np.linalg.norm(difference, axis=-1).mean())


def jitter(joints: np.ndarray, joints_used=UPPER_BODY) -> float:
    """Mean acceleration magnitude of the joints relative to the pelvis, mm / frame² (0 for < 3 frames).

    Relative to the pelvis, so it measures the pose; with a long focal length the depth
    of the whole body is uncertain by metres and would swamp it (see translation_jitter).
    """
    if len(joints) < 3:
        return 0.0
    relative = joints[:, list(joints_used)] - joints[:, :1]
    return float(np.linalg.norm(acceleration(relative), axis=-1).mean())


def translation_jitter(transl: np.ndarray) -> dict[str, float]:
    """Mean |acceleration| of the translation: across the image (x, y; mm / frame²) and in
    depth as a fraction of the depth (1 / frame²), so focal lengths compare."""
    if len(transl) < 3:
        return {"across_mm": 0.0, "depth_fraction": 0.0}
    across = np.linalg.norm(acceleration(transl[:, None, :2])[:, 0], axis=-1).mean()
    depth = np.abs(np.diff(np.log(np.maximum(transl[:, 2], 1e-6)), n=2)).mean()
    return {"across_mm": float(across), "depth_fraction": float(depth)}
