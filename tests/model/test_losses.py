"""Training losses: each term's target and weighting, and the shot mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dr2model.losses import LossWeights, gesture_losses, start_l1, velocity_l1


def _sequences(batch=2, frames=16, dims=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, frames, dims, generator=generator) for _ in range(3)]


def test_start_loss_counts_the_first_frame_fully_and_fades_to_nothing():
    _, target, _ = _sequences()
    at_start, late = target.clone(), target.clone()
    at_start[:, 0] += 1.0  # an error on frame 0 weighs most
    late[:, 12] += 1.0  # past the ramp (m = 10): weighs nothing
    assert start_l1(at_start, target, span=10) > 0.1
    assert start_l1(late, target, span=10) == 0.0
    frame_5 = target.clone()
    frame_5[:, 5] += 1.0
    assert 0.0 < start_l1(frame_5, target, span=10) < start_l1(at_start, target, span=10)


def test_velocity_loss_ignores_a_constant_offset_but_not_a_changed_step():
    _, target, _ = _sequences()
    assert velocity_l1(target + 3.0, target) < 1e-6
    moved = target.clone()
    moved[:, 8:] += 1.0
    assert velocity_l1(moved, target) > 0.01


def test_frames_past_a_shot_end_do_not_count():
    pred, target, _ = _sequences()
    face_pred, face_target, _ = _sequences(dims=10, seed=1)
    valid = torch.ones(2, 16, dtype=torch.bool)
    valid[1, 10:] = False  # the second window's shot ends after 10 frames
    _, clean = gesture_losses(pred, face_pred, target, face_target, pred, face_pred, target, valid=valid)
    wild = pred.clone()
    wild[1, 10:] += 100.0  # anything after the cut
    _, masked = gesture_losses(wild, face_pred, target, face_target, wild, face_pred, target, valid=valid)
    for name in ("pair_pose", "unpaired_velocity"):
        assert torch.isclose(masked[name], clean[name]), name
    _, unmasked = gesture_losses(wild, face_pred, target, face_target, wild, face_pred, target)
    assert unmasked["pair_pose"] > clean["pair_pose"] + 10


def test_all_valid_mask_equals_no_mask_and_weights_scale_their_terms():
    pred, target, noise = _sequences()
    face_pred, face_target, _ = _sequences(dims=10, seed=2)
    valid = torch.ones(2, 16, dtype=torch.bool)
    total, terms = gesture_losses(pred, face_pred, target, face_target, noise, face_pred, target)
    total_masked, terms_masked = gesture_losses(pred, face_pred, target, face_target, noise, face_pred, target,
                                                valid=valid)
    assert torch.isclose(total, total_masked)
    for name in terms:
        assert torch.isclose(terms[name], terms_masked[name]), name
    doubled, _ = gesture_losses(pred, face_pred, target, face_target, noise, face_pred, target,
                                weights=LossWeights(pair_pose=2.0))
    assert torch.isclose(doubled - total, terms["pair_pose"])


def test_posture_loss_wants_the_paired_motion_at_the_unpaired_posture():
    _, target_x, target_y = _sequences()
    face = torch.zeros(2, 16, 10)
    carried = target_x + (target_y[:, :1] - target_x[:, :1])  # the same motion, from y's starting posture
    drifted = carried.clone()
    drifted[:, 10:] = target_x[:, 10:]  # back to the posture the audio was paired with after m frames
    _, kept = gesture_losses(target_x, face, target_x, face, carried, face, target_y)
    _, lost = gesture_losses(target_x, face, target_x, face, drifted, face, target_y)
    assert kept["unpaired_posture"] < 1e-6
    assert lost["unpaired_posture"] > 0.1
    _, without = gesture_losses(target_x, face, target_x, face, drifted, face, target_y,
                                weights=LossWeights(unpaired_posture=0.0))
    assert "unpaired_posture" not in without


# --- every term against a plain NumPy reading of the formulas in dr2model/losses.py's docstring ---

SPAN = 5  # m of Eq. 1 in these tests (shorter than the 16-frame windows, so both ramps reach their ends)


def _mean_abs(a, b):
    return float(np.mean(np.abs(a - b)))


def _reference_terms(pp, pf, tp, tf, pu, fu, tu, valid):
    """The loss terms written out frame by frame: (B, T, D) arrays, valid (B, T) bool."""
    batch, frames, _ = pp.shape

    def masked_l1(a, b, mask):
        per_frame = np.abs(a - b).mean(axis=-1)
        return float((per_frame * mask).sum() / max(mask.sum(), 1))

    ramp = np.array([max(0.0, 1.0 - t / SPAN) for t in range(frames)])  # Eq. 1: 1 at frame 0, 0 from frame m
    start = np.mean([sum(ramp[t] * np.abs(pu[b, t] - tu[b, t]).mean() for t in range(frames)) / ramp.sum()
                     for b in range(batch)])
    steps = valid[:, 1:] & valid[:, :-1]
    velocity = masked_l1(np.diff(pu, axis=1), np.diff(tp, axis=1), steps)
    carried = tp + (tu[:, :1] - tp[:, :1])  # the paired motion from the unpaired first posture
    grow = np.array([min(1.0, t / SPAN) for t in range(frames)])[None] * valid
    posture = float((np.abs(pu - carried).mean(axis=-1) * grow).sum() / grow.sum())
    return {
        "pair_pose": masked_l1(pp, tp, valid),
        "pair_face": masked_l1(pf, tf, valid),
        "unpaired_start": float(start),
        "unpaired_velocity": velocity,
        "unpaired_face": masked_l1(fu, tf, valid),
        "unpaired_posture": posture,
    }


def _random_batch(seed=3, batch=3, frames=16):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(batch, frames, dims)).astype(np.float32) for dims in (6, 10, 6, 10, 6, 10, 6)]
    valid = np.ones((batch, frames), bool)
    valid[1, 11:] = False  # a shot ends inside this window
    valid[2, :2] = False  # a masked start too, so a step counts only when both its frames do
    return arrays, valid


def _torch_terms(arrays, valid, weights=LossWeights()):
    tensors = [torch.from_numpy(a) for a in arrays]
    return gesture_losses(*tensors, weights=weights, span=SPAN, valid=torch.from_numpy(valid))


def test_every_term_equals_its_formula():
    arrays, valid = _random_batch()
    _, terms = _torch_terms(arrays, valid)
    expected = _reference_terms(*arrays, valid)
    assert set(terms) == set(expected)
    for name, value in expected.items():
        assert float(terms[name]) == pytest.approx(value, rel=1e-5), name


def test_the_total_weighs_each_term_by_its_own_weight():
    arrays, valid = _random_batch(seed=4)
    expected = _reference_terms(*arrays, valid)
    weights = LossWeights(pair_pose=0.3, pair_face=1.7, unpaired_start=2.9, unpaired_velocity=0.05,
                          unpaired_face=4.1, unpaired_posture=0.7)  # all different: a swapped weight shows
    total, _ = _torch_terms(arrays, valid, weights)
    assert float(total) == pytest.approx(sum(getattr(weights, n) * v for n, v in expected.items()), rel=1e-5)


def test_each_term_is_zero_exactly_at_its_own_target():
    """Predictions equal to each term's target zero that term, and only a prediction that
    equals the target does (so a term compared with the wrong sequence shows)."""
    (pp, pf, tp, tf, pu, fu, tu), valid = _random_batch(seed=5)
    carried = tp + (tu[:, :1] - tp[:, :1])
    # The unpaired prediction that starts at its own state (tu) and then carries the paired motion:
    # start loss sees only the first SPAN frames (all tu), velocity and posture the rest (carried).
    ideal_unpaired = carried.copy()
    ideal_unpaired[:, :SPAN] = tu[:, :SPAN]
    _, terms = _torch_terms([tp, tf, tp, tf, ideal_unpaired, tf, tu], valid)
    for name in ("pair_pose", "pair_face", "unpaired_start", "unpaired_face"):
        assert float(terms[name]) < 1e-6, name
    _, carried_terms = _torch_terms([tp, tf, tp, tf, carried, tf, tu], valid)
    assert float(carried_terms["unpaired_velocity"]) < 1e-6
    assert float(carried_terms["unpaired_posture"]) < 1e-6
    # the same predictions scored against the other branch's targets are not zero
    _, swapped = _torch_terms([tu, fu, tp, tf, tp, pf, tu], valid)
    for name in ("pair_pose", "pair_face", "unpaired_start", "unpaired_face"):
        assert float(swapped[name]) > 0.1, name


def test_start_loss_weights_follow_the_eq1_ramp_frame_by_frame():
    """An error of 1 on frame t alone costs ramp(t) / Σ ramp: 1, 0.8, ..., 0.2, 0 for m = 5."""
    target = torch.zeros(1, 16, 2)
    ramp_sum = sum(1.0 - t / SPAN for t in range(SPAN))
    costs = []
    for t in range(8):
        pred = target.clone()
        pred[0, t] = 1.0
        costs.append(float(start_l1(pred, target, span=SPAN)) * ramp_sum)
    assert costs == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0, 0.0], abs=1e-6)


def test_posture_loss_weights_grow_to_one_and_stay():
    """An error of 1 on frame t alone of the unpaired prediction costs min(1, t/m) / Σ min(1, t/m)."""
    frames = 16
    zeros = torch.zeros(1, frames, 2)
    grow = [min(1.0, t / SPAN) for t in range(frames)]
    face = torch.zeros(1, frames, 10)
    for t in (0, 2, 5, 15):
        pred = zeros.clone()
        pred[0, t] = 1.0
        _, terms = gesture_losses(zeros, face, zeros, face, pred, face, zeros, span=SPAN)
        assert float(terms["unpaired_posture"]) == pytest.approx(grow[t] / sum(grow), abs=1e-7), t


def test_velocity_loss_compares_steps_with_the_paired_targets_steps():
    """L1 between steps, averaged over steps: one step off by 1 in one of D dims costs 1 / (D · steps)."""
    frames, dims = 16, 4
    paired = torch.cumsum(torch.ones(1, frames, dims), dim=1)  # moves +1 per frame
    unpaired = paired + 7.0  # same motion elsewhere: no velocity loss
    face = torch.zeros(1, frames, 10)
    _, same = gesture_losses(paired, face, paired, face, unpaired, face, paired)
    assert float(same["unpaired_velocity"]) == pytest.approx(0.0, abs=1e-6)
    jolt = unpaired.clone()
    jolt[0, 9:, 0] += 1.0  # one step (8 -> 9) larger by 1 in dim 0
    _, one = gesture_losses(paired, face, paired, face, jolt, face, paired)
    assert float(one["unpaired_velocity"]) == pytest.approx(1.0 / (dims * (frames - 1)), rel=1e-5)
