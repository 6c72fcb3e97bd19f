"""Motion metrics shared by the benchmarks and `dr2 eval`: beat consistency and L1.

Beat consistency (BC) here is the EMAGE variant (Liu et al., CVPR 2024; the
`BC` class of PantoMatrix's emage_evaltools): audio beats are librosa onsets
(hop 512), motion beats are local minima of each joint's speed
(`argrelextrema(np.less, order=7)` on central-difference speed), and per joint
BC = mean over audio onsets of exp(−d²/2σ²) with d the distance in seconds to
the nearest motion beat, σ = 0.3 s; joints without motion beats score 0 and
the result is the mean over joints. EMAGE additionally drops minima whose
speed is below 0.1 of a dataset-wide mean joint speed; that needs their
reference file, so it is optional here (`speed_floor`, off by default).
Because only audio onsets are averaged, extra motion beats never lower BC:
read it together with L1 and never alone.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import argrelextrema

BC_SIGMA = 0.3  # seconds
BC_ORDER = 7  # frames on each side a speed minimum must undercut
ONSET_HOP = 512  # librosa hop length used for onsets (EMAGE)


def audio_onsets(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset times in seconds (librosa.onset.onset_detect, hop 512)."""
    import librosa

    y = np.asarray(waveform, np.float32)
    return librosa.onset.onset_detect(y=y, sr=sample_rate, hop_length=ONSET_HOP, units="time")


def joint_speed(joints: np.ndarray, fps: float) -> np.ndarray:
    """(T, J, 3) positions -> (T, J) speed per frame: central differences inside, one-sided at the ends."""
    joints = np.asarray(joints, np.float64)
    if len(joints) < 2:
        return np.zeros(joints.shape[:2])
    velocity = np.gradient(joints, 1.0 / fps, axis=0)
    return np.linalg.norm(velocity, axis=-1)


def motion_beats(speed: np.ndarray, order: int = BC_ORDER, speed_floor: float | None = None) -> np.ndarray:
    """Frame indices of local speed minima of one joint (T,); minima below `speed_floor` dropped when given."""
    beats = argrelextrema(np.asarray(speed), np.less, order=order)[0]
    if speed_floor is not None:
        beats = beats[speed[beats] > speed_floor]
    return beats


def beat_consistency(
    onsets: np.ndarray,
    joints: np.ndarray,
    fps: float,
    sigma: float = BC_SIGMA,
    order: int = BC_ORDER,
    speed_floor: np.ndarray | float | None = None,
) -> float:
    """BC of motion `joints` (T, J, 3) against audio `onsets` (seconds); NaN when there are no onsets."""
    onsets = np.asarray(onsets, np.float64)
    if onsets.size == 0:
        return float("nan")
    speed = joint_speed(joints, fps)
    floors = np.broadcast_to(np.asarray(speed_floor if speed_floor is not None else np.nan, np.float64),
                             (speed.shape[1],))
    scores = []
    for j in range(speed.shape[1]):
        floor = None if np.isnan(floors[j]) else floors[j]
        beats = motion_beats(speed[:, j], order, floor) / fps
        if beats.size == 0:
            scores.append(0.0)
            continue
        nearest = np.abs(onsets[:, None] - beats[None, :]).min(axis=1)
        scores.append(float(np.mean(np.exp(-(nearest**2) / (2 * sigma**2)))))
    return float(np.mean(scores))


def mean_l1(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute difference of two arrays of the same shape."""
    return float(np.mean(np.abs(np.asarray(prediction) - np.asarray(target))))
