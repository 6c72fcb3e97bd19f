"""dr2common.low_pass: gestures kept, jitter removed, never across a cut."""

from __future__ import annotations

import numpy as np
import pytest

from dr2common.low_pass import MIN_FRAMES, low_pass

FPS = 30.0


def test_the_gesture_band_passes_and_jitter_does_not():
    t = np.arange(300) / FPS
    gesture = 40.0 * np.sin(2 * np.pi * 2.0 * t)  # a 2 Hz beat, mm
    jitter = 3.0 * np.sin(2 * np.pi * 12.0 * t)
    out = low_pass(np.stack([gesture + jitter, gesture], axis=1), [(0, 300)], FPS)
    inner = slice(30, -30)  # away from the ends, where the filter starts up
    assert np.abs(out[inner, 0] - gesture[inner]).max() < 0.3  # 12 Hz down by more than 10x, no lag at 2 Hz
    assert np.abs(out[inner, 1] - gesture[inner]).max() < 0.3


def test_pieces_are_filtered_apart_and_short_ones_kept():
    x = np.concatenate([np.zeros(40), np.full(40, 100.0), np.arange(MIN_FRAMES - 1, dtype=float)])
    out = low_pass(x, [(0, 40), (40, 80), (80, 80 + MIN_FRAMES - 1)], FPS)
    np.testing.assert_allclose(out[:80], x[:80], atol=1e-9)  # a step at a cut stays a step, with no ringing
    np.testing.assert_array_equal(out[80:], x[80:])  # too short to filter: left as it is
    smeared = low_pass(x[:80], [(0, 80)], FPS)  # one piece across the step rings around it
    assert np.abs(smeared - x[:80]).max() > 5.0


@pytest.mark.parametrize("hz", [0.0, 15.0, 20.0])
def test_a_cutoff_outside_the_band_is_refused(hz):
    with pytest.raises(ValueError, match="0 < hz < 15"):
        low_pass(np.zeros(40), [(0, 40)], FPS, hz)


def test_a_user_cutoff_is_checked_in_one_place():
    from dr2common.low_pass import cutoff_problem

    assert cutoff_problem(0.0, FPS) is None and cutoff_problem(8.0, FPS) is None and cutoff_problem(14.9, FPS) is None
    for bad in (-1.0, 15.0, 40.0, float("nan")):
        assert cutoff_problem(bad, FPS).startswith("--low-pass-hz must be 0 (no filter) or below 15"), bad
