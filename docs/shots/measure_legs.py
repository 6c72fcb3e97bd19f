"""Measure a fit's legs and upper body: hip abduction, upper-body reprojection, and the change against a baseline fit.

Hip abduction is the angle of the thigh (hip joint to knee joint) out of the body's
sagittal plane, in the pelvis's frame: 0 for a leg hanging straight or a thigh pointing
straight forwards (seated), positive when the knee goes out to its own side.

    python docs/shots/measure_legs.py CLIP_DIR PARAMS.npz [BASELINE_PARAMS.npz] [--threshold 30]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from smplx.lbs import batch_rodrigues

from dr2prep.bodymodel.loading import load_body_model
from dr2prep.bodymodel.fast_forward import FastForward
from dr2prep.fitting.camera import project
from dr2prep.fitting.objective import reprojection_error_px
from dr2prep.fitting.params_file import load_params, smplx_inputs
from dr2prep.keypoints.openpose_format import load_keypoints

LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE = 1, 2, 4, 5  # SMPL-X joints
UPPER_BODY_POINTS = (0, 1, 2, 3, 4, 5, 6, 7, 15, 16, 17, 18)  # BODY_25 nose, neck, arms, eyes, ears
UPPER_BODY_JOINTS = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)  # SMPL-X spine1..wrists
UPPER_BODY_POSE = (2, 5, 8, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)  # their body_pose rows


def posed(body, params):
    """(T, 55, 3) joints and (T, 137, 2) projected OpenPose points."""
    inputs = smplx_inputs(params)
    forward = FastForward(body, params["betas"])
    with torch.no_grad():
        out = forward(inputs["global_orient"], inputs["body_pose"], inputs["jaw_pose"], inputs["left_hand_pose"],
                      inputs["right_hand_pose"], inputs["expression"], inputs["transl"])
        pixels = project(out.points, float(params["focal_length"]), torch.as_tensor(params["camera_center"]))
    return out.joints.numpy(), pixels


def abduction_degrees(joints: np.ndarray, global_orient: np.ndarray) -> np.ndarray:
    """(T, 2) left and right hip abduction in degrees (see the module docstring)."""
    rotation = batch_rodrigues(torch.as_tensor(np.asarray(global_orient, np.float32)).reshape(-1, 3)).numpy()
    rotation = np.broadcast_to(rotation, (len(joints), 3, 3))
    angles = []
    for hip, knee, outward in ((LEFT_HIP, LEFT_KNEE, 1.0), (RIGHT_HIP, RIGHT_KNEE, -1.0)):
        thigh = np.einsum("tji,tj->ti", rotation, joints[:, knee] - joints[:, hip])  # pelvis frame: x = body's left
        angles.append(np.degrees(np.arcsin(np.clip(outward * thigh[:, 0] / np.linalg.norm(thigh, axis=1), -1, 1))))
    return np.stack(angles, axis=1)


def angle_between(pose_a: np.ndarray, pose_b: np.ndarray) -> np.ndarray:
    """(T, J) degrees between two sets of axis-angle rotations (T, J, 3)."""
    a = batch_rodrigues(torch.as_tensor(pose_a.reshape(-1, 3), dtype=torch.float32)).numpy()
    b = batch_rodrigues(torch.as_tensor(pose_b.reshape(-1, 3), dtype=torch.float32)).numpy()
    cos = (np.einsum("nij,nij->n", a, b) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1))).reshape(pose_a.shape[:-1])


def measure(clip_dir: str, params_path: str, baseline_path: str | None, threshold: float) -> dict:
    body = load_body_model("open")
    keypoints = torch.as_tensor(load_keypoints(clip_dir).keypoints)
    params = load_params(params_path)
    joints, pixels = posed(body, params)
    abduction = abduction_degrees(joints, params["global_orient"])
    upper = reprojection_error_px(pixels, keypoints, points=list(UPPER_BODY_POINTS)).numpy()
    everything = reprojection_error_px(pixels, keypoints).numpy()
    result = {
        "frames": len(joints),
        "threshold_deg": threshold,
        "abducted_share": float((abduction.max(axis=1) > threshold).mean()),
        "left_abducted_share": float((abduction[:, 0] > threshold).mean()),
        "abduction_deg_median_left_right": np.median(abduction, axis=0).round(1).tolist(),
        "abduction_deg_p95_left_right": np.percentile(abduction, 95, axis=0).round(1).tolist(),
        "upper_body_reprojection_px_median": float(np.nanmedian(upper)),
        "upper_body_reprojection_px_mean": float(np.nanmean(upper)),
        "all_reprojection_px_median": float(np.nanmedian(everything)),
    }
    if baseline_path:
        base = load_params(baseline_path)
        base_joints, _ = posed(body, base)
        change = angle_between(params["body_pose"].reshape(-1, 21, 3)[:, list(UPPER_BODY_POSE)],
                               base["body_pose"].reshape(-1, 21, 3)[:, list(UPPER_BODY_POSE)])
        moved = joints[:, list(UPPER_BODY_JOINTS)] - joints[:, :1] - (base_joints[:, list(UPPER_BODY_JOINTS)]
                                                                       - base_joints[:, :1])
        result["upper_body_pose_change_deg_mean"] = float(change.mean())
        result["upper_body_pose_change_deg_p95"] = float(np.percentile(change, 95))
        result["upper_body_joint_change_mm_mean"] = float(np.linalg.norm(moved, axis=-1).mean() * 1000)
        result["global_orient_change_deg"] = float(angle_between(np.asarray(params["global_orient"]).reshape(-1, 1, 3),
                                                                 np.asarray(base["global_orient"]).reshape(-1, 1, 3)).max())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip_dir")
    parser.add_argument("params")
    parser.add_argument("baseline", nargs="?")
    parser.add_argument("--threshold", type=float, default=30.0, help="degrees of abduction that count as a leg out")
    args = parser.parse_args()
    print(json.dumps(measure(args.clip_dir, args.params, args.baseline, args.threshold), indent=1))


if __name__ == "__main__":
    main()
