"""Training losses: each term's target and weighting, and the shot mask."""

from __future__ import annotations

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
