"""Zero-lag low-pass of motion, one shot (or steady part of a shot) at a time.

Real fits carry keypoint jitter above the gesture band (a fraction of a
millimetre, but a fifth of the velocity power); the fit stage, synthesis and
the held-out benchmark cut it the same way: a 4th-order Butterworth filter run
forward and back, so nothing lags, never across a cut.
"""

from __future__ import annotations

import numpy as np

from dr2common.rates import GESTURE_BAND_HZ

MIN_FRAMES = 16  # shorter pieces are too short for the filter's start-up (filtfilt pads 15 frames) and stay as they are
ORDER = 4


def cutoff_problem(hz: float, fps: float) -> str | None:
    """What is wrong with `hz` as a user's `--low-pass-hz` (0: no filter), or None: one check for the fit and synth."""
    if 0 <= hz < fps / 2:
        return None
    return f"--low-pass-hz must be 0 (no filter) or below {fps / 2:g} (half the frame rate), got {hz:g}"


def low_pass(x: np.ndarray, pieces, fps: float, hz: float = GESTURE_BAND_HZ) -> np.ndarray:
    """x (T, ...) with each [start, end) of `pieces` low-passed at `hz` along time; a copy, float64."""
    from scipy.signal import butter, filtfilt

    if not 0 < hz < fps / 2:
        raise ValueError(f"a low-pass at {hz} Hz needs 0 < hz < {fps / 2} (half of {fps} frames/s)")
    b, a = butter(ORDER, hz / (fps / 2.0))
    out = np.array(x, np.float64, copy=True)
    for start, end in pieces:
        if end - start >= MIN_FRAMES:
            out[start:end] = filtfilt(b, a, out[start:end], axis=0)
    return out
