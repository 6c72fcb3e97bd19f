"""Putting audio features on the video's frame clock: linear interpolation to the clip's 30 FPS frames.

Feature row k stands for time k / source_rate and video frame t for time t / fps (VOCA's
`interpolate_features` convention, which the DR² authors followed); values beyond the last
feature row hold that row.
"""

from __future__ import annotations

import numpy as np

from dr2common.rates import FPS


def frames_for_duration(seconds: float, fps: float = FPS) -> int:
    """Video frames that a stretch of audio covers when no video says (VOCA: round(seconds * fps))."""
    return int(round(seconds * fps))


def resample_to_frames(features: np.ndarray, source_rate: float, n_frames: int, fps: float = FPS) -> np.ndarray:
    """(N, D) features at `source_rate` rows/s -> (n_frames, D) float32 at `fps` by linear interpolation."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"features must be (N >= 1, D), got {features.shape}")
    source_times = np.arange(len(features)) / float(source_rate)
    target_times = np.arange(n_frames) / float(fps)
    # np.interp per column; columns are few (29) and rows many, so this loop is cheap.
    out = np.empty((n_frames, features.shape[1]), dtype=np.float32)
    for d in range(features.shape[1]):
        out[:, d] = np.interp(target_times, source_times, features[:, d])
    return out
