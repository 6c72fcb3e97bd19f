"""Synthetic ground truth for the fit: smooth gesture sequences of a body, seen by a pinhole camera.

Used by the tests and `benchmarks/bench_fit.py`: the true SMPL-X parameters are
known, so the fit's 3D error, reprojection error and jitter can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dr2prep.bodymodel.fast_forward import FastForward
from dr2prep.bodymodel.hand_limits import hand_limits
from dr2prep.bodymodel.loading import BodyModel
from dr2prep.fitting.camera import FACING_CAMERA, project
from dr2common.rates import FPS

IMAGE_SIZE = (1280, 720)  # width, height


@dataclass
class SyntheticClip:
    """True parameters (T frames) and the keypoints a detector would give for them."""

    betas: np.ndarray  # (10,)
    global_orient: np.ndarray  # (3,)
    body_pose: np.ndarray  # (T, 63)
    left_hand: np.ndarray  # (T, 45)
    right_hand: np.ndarray  # (T, 45)
    jaw: np.ndarray  # (T, 3)
    face: np.ndarray  # (T, 10)
    transl: np.ndarray  # (T, 3)
    joints: np.ndarray  # (T, 55, 3) true joints, metres, camera space
    keypoints: np.ndarray  # (T, 137, 3) noisy detections: x, y (px), confidence
    failed_frames: np.ndarray  # (F,) frames with no detection at all
    focal_length: float
    image_size: tuple[int, int]


def smooth_signal(rng: np.random.Generator, n_frames: int, shape: tuple, low_hz=0.2, high_hz=1.5) -> np.ndarray:
    """(T, *shape) sums of three sinusoids of random gesture-like frequency and phase, in [-1, 1]."""
    t = np.arange(n_frames)[:, None] / FPS
    size = int(np.prod(shape))
    signal = np.zeros((n_frames, size))
    for _ in range(3):
        freq = rng.uniform(low_hz, high_hz, size)
        phase = rng.uniform(0, 2 * np.pi, size)
        signal += np.sin(2 * np.pi * freq * t + phase) / 3
    return signal.reshape(n_frames, *shape)


def within_hand_limits(hand_pose: np.ndarray, hand_mean: np.ndarray, side: str) -> np.ndarray:
    """(T, 45) hand poses (relative to the mean hand) clipped into the hand joint limits."""
    lower, upper = hand_limits(side)
    mean = np.asarray(hand_mean).reshape(-1)
    return np.clip(hand_pose + mean, lower.reshape(-1), upper.reshape(-1)) - mean


def gesture_poses(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """(T, 63) body poses of someone gesturing: arms lowered, elbows bent forward, moving smoothly."""
    pose = np.zeros((n_frames, 21, 3))
    s = smooth_signal(rng, n_frames, (21, 3))
    pose[:, [2, 5, 8], :] = 0.05 * s[:, [2, 5, 8], :]  # spine
    pose[:, [11, 14], :] = 0.15 * s[:, [11, 14], :]  # neck, head
    pose[:, 15, 2] = -1.1 + 0.25 * s[:, 15, 2]  # left shoulder down (joint 16 -> index 15)
    pose[:, 16, 2] = 1.1 + 0.25 * s[:, 16, 2]  # right shoulder down
    pose[:, 15, 1] = -0.3 + 0.3 * s[:, 15, 1]  # arms a little forward
    pose[:, 16, 1] = 0.3 + 0.3 * s[:, 16, 1]
    pose[:, 17, 1] = -1.0 + 0.45 * s[:, 17, 1]  # left elbow bent forward (negative y)
    pose[:, 18, 1] = 1.0 + 0.45 * s[:, 18, 1]  # right elbow bent forward (positive y)
    pose[:, [19, 20], :] = 0.3 * s[:, [19, 20], :]  # wrists
    return pose.reshape(n_frames, 63)


def make_clip(
    body: BodyModel,
    n_frames: int = 300,
    seed: int = 0,
    pixel_noise: float = 2.0,
    dropout: float = 0.1,
    failures: int = 3,
    failure_length: int = 3,
    focal_length: float = 1500.0,
    image_size: tuple[int, int] = IMAGE_SIZE,
) -> SyntheticClip:
    """A speaker 2.5 m from the camera, seen from the head to the thighs, with noisy, partly missing detections."""
    rng = np.random.default_rng(seed)
    betas = rng.normal(0, 0.7, 10)
    global_orient = np.array(FACING_CAMERA) + np.array([0.0, 0.0, 0.0])
    body_pose = gesture_poses(rng, n_frames)
    left_hand = within_hand_limits(0.25 * smooth_signal(rng, n_frames, (45,)), body.hand_mean_left, "left")
    right_hand = within_hand_limits(0.25 * smooth_signal(rng, n_frames, (45,)), body.hand_mean_right, "right")
    jaw = np.zeros((n_frames, 3))
    jaw[:, 0] = 0.12 + 0.12 * smooth_signal(rng, n_frames, (1,), 1.0, 4.0)[:, 0]
    face = 0.5 * smooth_signal(rng, n_frames, (body.num_expression,))
    transl = np.array([0.0, 0.72, 2.5]) + 0.03 * smooth_signal(rng, n_frames, (3,), 0.05, 0.3)  # head to hips in view

    forward = FastForward(body, betas)
    as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        out = forward(as_tensor(np.tile(global_orient, (n_frames, 1))), as_tensor(body_pose), as_tensor(jaw),
                      as_tensor(left_hand), as_tensor(right_hand), as_tensor(face), as_tensor(transl))
        center = torch.tensor([image_size[0] / 2, image_size[1] / 2])
        pixels = project(out.points, focal_length, center).numpy()

    keypoints = np.zeros((n_frames, pixels.shape[1], 3), dtype=np.float32)
    keypoints[..., :2] = pixels + rng.normal(0, pixel_noise, pixels.shape)
    keypoints[..., 2] = 0.9
    keypoints[..., 2][rng.random(keypoints.shape[:2]) < dropout] = 0.0
    outside = (pixels < 0).any(axis=-1) | (pixels[..., 0] > image_size[0] - 1) | (pixels[..., 1] > image_size[1] - 1)
    keypoints[..., 2][outside] = 0.0  # a detector reports nothing outside the frame
    keypoints[keypoints[..., 2] == 0] = 0.0
    candidates = np.arange(5, max(5, n_frames - failure_length))  # not in the first frames: the fit starts there
    starts = rng.choice(candidates, size=min(failures, len(candidates)), replace=False)
    failed = np.array(sorted(f for s in starts for f in range(s, s + failure_length)), dtype=int)
    keypoints[failed] = 0.0
    return SyntheticClip(betas, global_orient, body_pose, left_hand, right_hand, jaw, face, transl,
                         out.joints.numpy(), keypoints, failed, focal_length, image_size)
