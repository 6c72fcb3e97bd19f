"""Eq. 1: the initial state moves by ξ, the target by max(0, 1 − t/m)·ξ, nothing from t ≥ m."""

from __future__ import annotations

import torch

from dr2model.noise import NOISE_RANGE, add_state_noise, apply_start_offset, ramp_weights


def test_ramp_weights_values():
    w = ramp_weights(128, 10)
    assert w[0] == 1.0
    torch.testing.assert_close(w[:11], torch.tensor([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]))
    assert torch.all(w[10:] == 0)


def test_eq1_first_frame_shift_is_xi_and_zero_from_m():
    sequence = torch.randn(4, 128, 59)
    generator = torch.Generator().manual_seed(3)
    noised, initial, xi = add_state_noise(sequence, sigma=0.2, generator=generator)
    shift = noised - sequence
    torch.testing.assert_close(shift[:, 0], xi)
    torch.testing.assert_close(initial, sequence[:, 0] + xi)
    assert torch.all(shift[:, NOISE_RANGE:] == 0)
    for t in range(NOISE_RANGE):
        torch.testing.assert_close(shift[:, t], (1 - t / NOISE_RANGE) * xi)


def test_eq1_xi_has_sigma_std_and_is_seeded():
    sequence = torch.zeros(4000, 12, 59)
    _, _, xi = add_state_noise(sequence, 0.3, torch.Generator().manual_seed(0))
    assert abs(float(xi.std()) - 0.3) < 0.005 and abs(float(xi.mean())) < 0.005
    _, _, again = add_state_noise(sequence, 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(xi, again)


def test_sigma_zero_leaves_sequence_unchanged():
    sequence = torch.randn(2, 128, 59)
    noised, initial, _ = add_state_noise(sequence, 0.0, torch.Generator().manual_seed(1))
    assert torch.equal(noised, sequence) and torch.equal(initial, sequence[:, 0])


def test_start_offset_works_for_eq2_span():
    sequence = torch.zeros(1, 20, 3)
    out = apply_start_offset(sequence, torch.ones(1, 3), span=4)
    torch.testing.assert_close(out[0, :5, 0], torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))
