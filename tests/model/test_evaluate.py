"""Evaluation: the gesture and fit metrics, the stored FGD autoencoder, the Fréchet distance, the table and JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dr2model.evaluate import EvalSettings, evaluate, fit_quality, format_report, gesture_metrics
from dr2model.motion_autoencoder import (
    AUTOENCODER_FILE,
    FGD_WINDOW,
    frechet_distance,
    load_fgd_space,
    motion_vectors,
    train_fgd_space,
    windows,
)
from dr2common.errors import Dr2Error
from tests.model.tiny_model import speech_wav

FAST = EvalSettings(num_samples=2, fgd_steps=20)


pytestmark = pytest.mark.usefixtures("quiet_one_thread")


@pytest.fixture(scope="session")
def clip_dir(model_dir):
    return model_dir.parent / "work" / "clip_a"


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 4))
    mu, sigma = a.mean(0), np.cov(a, rowvar=False)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-6)
    # Means 3 apart along one axis, equal covariances: FGD = 9.
    assert frechet_distance(np.zeros(4), np.eye(4), [3, 0, 0, 0], np.eye(4)) == pytest.approx(9.0)
    # Same mean, variances 1 and 4 per axis: sum of (1 - 2)^2 = 4 over 4 axes.
    assert frechet_distance(np.zeros(4), np.eye(4), np.zeros(4), 4 * np.eye(4)) == pytest.approx(4.0)


def test_fgd_space_separates_unlike_motion():
    t = np.arange(400)[:, None] / 30.0
    rng = np.random.default_rng(1)
    phases = rng.uniform(0, 6, 132)
    slow = 0.05 * np.sin(2 * np.pi * 0.5 * t + phases).astype(np.float32)
    space = train_fgd_space([slow], steps=60)
    same = space.distance_to_training([slow[:200]])
    fast = 0.05 * np.sin(2 * np.pi * 3.0 * t + phases).astype(np.float32)
    assert space.distance_to_training([fast]) > 5 * same
    assert windows(slow, stride=4).shape == ((400 - FGD_WINDOW) // 4 + 1, FGD_WINDOW, 132)


def test_gesture_metrics_values():
    class NoFGD:
        def distance_to_training(self, motions):
            return None

        def distance(self, a, b):
            return None

    rng = np.random.default_rng(0)
    base = rng.standard_normal((1, 55, 3)) * 0.2
    still = np.repeat(base, 90, axis=0).astype(np.float32)
    moved = still.copy()
    moved[:, 21, 0] += 0.01  # the right wrist 10 mm further along x
    row = gesture_metrics([still, moved], np.array([0.5, 1.5]), NoFGD(), truth=still)
    assert row["frames"] == 90 and row["samples"] == 2
    assert row["jitter_mm_per_frame2"] == pytest.approx(0.0, abs=1e-6)
    # One joint of 44 moved 10 mm along one of 3 axes: mean L1 = 10 / 132 mm between the samples.
    assert row["diversity_mm"] == pytest.approx(10 / 132, rel=1e-3)
    assert row["l1_mm"] == pytest.approx(10 / 132 / 2, rel=1e-3)  # one sample equals the truth
    assert row["bc"] == 0.0  # no motion, no motion beats


def test_gesture_metrics_skip_the_frames_of_a_cut():
    class CountWindows:  # FGD stand-in that reports how many frames reached it (in which pieces)
        def distance_to_training(self, motions):
            return float(sum(len(m) for m in motions))

        def distance(self, a, b):
            return float(len(b))

    rng = np.random.default_rng(1)
    shot_a, shot_b = (np.repeat(rng.standard_normal((1, 55, 3)) * 0.2, n, axis=0) for n in (50, 40))
    truth = np.concatenate([shot_a, shot_b]).astype(np.float32)  # a still pose, then another: a cut at 50
    sample = np.repeat(truth[:1], 90, axis=0)
    sample[50:, 21, 0] += 0.01  # the sample too jumps there
    cut = gesture_metrics([sample, sample], np.array([0.5, 2.0]), CountWindows(), truth=truth, cuts=(50,))
    assert cut["shots"] == 2
    assert cut["jitter_ground_truth"] == pytest.approx(0.0, abs=1e-6)  # the jump is not motion
    assert cut["jitter_mm_per_frame2"] == pytest.approx(0.0, abs=1e-6)
    assert cut["fgd_training"] == 2 * (90 - 4)  # both samples, 2 frames either side of the cut left out
    assert cut["fgd_ground_truth"] == 2.0  # the fit's motion in two pieces, one per shot
    whole = gesture_metrics([sample, sample], np.array([0.5, 2.0]), CountWindows(), truth=truth)
    assert whole["shots"] == 1 and whole["jitter_ground_truth"] > 1.0  # without the cut it is a teleport


def test_evaluate_model_and_clips(model_dir, clip_dir, tmp_path):
    wav = speech_wav(tmp_path / "talk.wav", 3.0, seed=11)
    report = evaluate(model_dir, clips=[clip_dir], audio=[wav], settings=FAST, json_path=tmp_path / "eval.json")
    assert json.loads((tmp_path / "eval.json").read_text()) == json.loads(json.dumps(report))
    clip_row, audio_row = report["gestures"]
    assert clip_row["input"] == "clip_a" and clip_row["frames"] == 180
    assert audio_row["input"] == "talk.wav" and audio_row["frames"] == 90
    for row in (clip_row, audio_row):
        assert 0.0 <= row["bc"] <= 1.0
        assert row["diversity_mm"] > 0 and row["jitter_mm_per_frame2"] > 0 and row["fgd_training"] >= 0
    assert clip_row["l1_mm"] > 0 and clip_row["fgd_ground_truth"] >= 0 and clip_row["bc_ground_truth"] is not None
    assert audio_row["l1_mm"] is None  # no ground truth for a bare audio file
    (fit,) = report["fits"]
    assert fit["clip"] == "clip_a" and fit["jitter_mm_per_frame2"] > 0  # computed from params.npz (no report.json)
    text = format_report(report)
    assert "clip_a" in text and "talk.wav" in text and "EMAGE" in text and "FGD train" in text
    # The autoencoder is stored with the model and reused.
    fingerprint = json.loads((model_dir / "config.json").read_text())["data_fingerprint"]
    stored = load_fgd_space(model_dir / AUTOENCODER_FILE, fingerprint)
    assert stored is not None and stored.digest.startswith(report["model"]["fgd_autoencoder"])
    again = evaluate(model_dir, audio=[wav], settings=FAST)
    assert again["model"]["fgd_autoencoder"] == report["model"]["fgd_autoencoder"]
    assert again["gestures"][0] == audio_row  # same seed, same autoencoder: the same numbers


def test_fit_quality_reads_the_report(tmp_path):
    clip = tmp_path / "clip"
    (clip / "smplx").mkdir(parents=True)
    (clip / "smplx" / "report.json").write_text(json.dumps({
        "frames": 210, "reprojection_px": {"median": 6.5, "mean": 8.0},
        "reprojection_fraction_of_height": {"median": 0.009, "mean": 0.011},
        "detected_fraction": 0.98, "jitter_mm_per_frame2": 1.7, "frames_per_second": 35.0}))
    row = fit_quality(clip)
    assert row == {"clip": "clip", "frames": 210, "reprojection_median_px": 6.5, "reprojection_mean_px": 8.0,
                   "reprojection_median_fraction_of_height": 0.009, "detected_fraction": 0.98,
                   "jitter_mm_per_frame2": 1.7, "fit_frames_per_second": 35.0}
    report = evaluate(clips=[clip])
    assert report["fits"] == [row] and report["gestures"] == []
    assert "6.50" in format_report(report)


def test_evaluate_errors(tmp_path):
    with pytest.raises(Dr2Error, match="nothing to evaluate"):
        evaluate()
    with pytest.raises(Dr2Error, match="--audio needs --model"):
        evaluate(clips=[tmp_path], audio=[tmp_path / "a.wav"])
    with pytest.raises(Dr2Error, match="does not exist"):
        evaluate(clips=[tmp_path / "missing"])


def test_motion_vectors_are_pelvis_relative():
    joints = np.random.default_rng(0).standard_normal((5, 55, 3)).astype(np.float32)
    moved = joints + np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_allclose(motion_vectors(joints), motion_vectors(moved), atol=1e-5)


def test_joints_match_smplx(model_dir, tmp_path):
    import torch

    from dr2model.motion_autoencoder import smplx_joints
    from dr2model.synthesis import load_sample, synthesize
    from dr2prep.bodymodel.loading import load_body_model

    outputs = synthesize(model_dir, speech_wav(tmp_path / "s.wav", 1.0, 3), tmp_path / "out", preview=False)
    params = load_sample(outputs[0].params_path)
    body = load_body_model("open")
    layer = body.smplx_layer(batch_size=len(params["body_pose"]))
    with torch.no_grad():
        expected = layer(**{k: torch.from_numpy(v) for k, v in params.items()}).joints[:, :55].numpy()
    np.testing.assert_allclose(smplx_joints(body, params, batch=7), expected, atol=1e-5)
