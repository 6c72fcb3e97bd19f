"""Beat consistency (EMAGE variant) on motions whose beats are known."""

from __future__ import annotations

import numpy as np

from dr2model.metrics import audio_onsets, beat_consistency, joint_speed, mean_l1, motion_beats

FPS = 30


def loops_with_stops_at(stops: np.ndarray, frames: int) -> np.ndarray:
    """One joint (T, 1, 3) circling once between consecutive stop times, at rest (speed 0) exactly at each stop."""
    t = np.arange(frames) / FPS
    k = np.clip(np.searchsorted(stops, t, side="right") - 1, 0, len(stops) - 2)
    s = np.clip((t - stops[k]) / (stops[k + 1] - stops[k]), 0, 1)
    phase = np.pi * (1 - np.cos(np.pi * s))
    return np.stack([np.cos(phase), np.sin(phase), np.zeros_like(phase)], axis=1)[:, None, :]


def test_joint_speed_of_uniform_motion():
    joints = np.zeros((10, 2, 3))
    joints[:, 0, 0] = np.arange(10) * 0.1  # 0.1 m per frame = 3 m/s
    speed = joint_speed(joints, FPS)
    np.testing.assert_allclose(speed[:, 0], 3.0)
    np.testing.assert_allclose(speed[:, 1], 0.0)


def test_motion_beats_are_speed_minima():
    speed = np.ones(60)
    speed[[10, 30, 50]] = 0.1
    assert motion_beats(speed, order=7).tolist() == [10, 30, 50]
    assert motion_beats(speed, order=7, speed_floor=0.2).tolist() == []


def test_beats_on_the_onsets_score_near_one_and_shifted_beats_less():
    stops = np.arange(0.0, 11.0, 1.0)
    joints = loops_with_stops_at(stops, 300)
    onsets = stops[1:-1]
    aligned = beat_consistency(onsets, joints, FPS)
    shifted = beat_consistency(onsets + 0.4, joints, FPS)
    assert aligned > 0.99
    assert abs(shifted - np.exp(-(0.4**2) / (2 * 0.3**2))) < 0.02
    assert beat_consistency(onsets + 0.4, joints, FPS, sigma=0.1) < 0.01


def test_still_motion_scores_zero_and_no_onsets_is_nan():
    still = np.zeros((100, 3, 3))
    assert beat_consistency(np.array([1.0, 2.0]), still, FPS) == 0.0
    assert np.isnan(beat_consistency(np.array([]), still, FPS))


def test_audio_onsets_find_clicks():
    sr = 16000
    wave = np.zeros(sr * 3, np.float32)
    for t in (0.5, 1.5, 2.5):
        start = int(t * sr)
        wave[start:start + 800] = np.sin(2 * np.pi * 440 * np.arange(800) / sr) * np.exp(-np.arange(800) / 200)
    onsets = audio_onsets(wave, sr)
    for t in (0.5, 1.5, 2.5):
        assert np.min(np.abs(onsets - t)) < 0.05


def test_mean_l1():
    assert mean_l1(np.zeros(4), np.array([1.0, -1.0, 2.0, 0.0])) == 1.0
