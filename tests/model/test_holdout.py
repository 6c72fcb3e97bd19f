"""The held-out speaker check (dr2model/holdout.py): its metrics on known motion, and the benchmark's whole code path
(train on one generated clip, synthesise for another's speech, every baseline) in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from dr2model import holdout


def swinging(frames: int, amplitude: float = 100.0, freq: float = 1.0, phase: float = 0.0) -> np.ndarray:
    """(T, 13, 3) mm: every joint swinging sideways."""
    t = np.arange(frames)[:, None, None] / holdout.FPS
    x = np.zeros((frames, 13, 3))
    x[..., 0] = amplitude * np.sin(2 * np.pi * freq * t[..., 0] + phase)
    return x + np.linspace(0, 500, 13)[None, :, None]


def test_frechet_distance_is_zero_for_the_same_rows_and_grows_with_a_shift():
    rows = np.random.default_rng(0).standard_normal((500, 4))
    assert holdout.frechet_distance(rows, rows) == pytest.approx(0.0, abs=1e-6)
    assert holdout.frechet_distance(rows + 3.0, rows) == pytest.approx(4 * 9.0, rel=1e-6)


def test_seam_ratio_finds_a_pop_at_the_seams():
    x = swinging(300)
    smooth = holdout.seam_ratio(x, [128, 255])["seam_ratio"]
    popped = x.copy()
    popped[128:] += 30.0
    popped[255:] -= 30.0
    assert 0.5 < smooth < 2.0
    assert holdout.seam_ratio(popped, [128, 255])["seam_ratio"] > 3 * smooth


def test_bc_against_shifted_audio_ties_motion_to_its_beats():
    frames = 600
    onsets = np.sort(np.random.default_rng(1).uniform(0.5, 19.5, 25))
    x = np.zeros((frames, 13, 3))
    t = np.arange(frames) / holdout.FPS
    for onset in onsets:  # a stroke ending at each onset: speed minimum there
        x[..., 0] += (60 * np.exp(-((t - onset + 0.25) ** 2) / 0.02))[:, None]
    tied = holdout.bc_with_shifts(onsets, x)
    assert tied["bc_z"] > 2 and tied["bc_shift_share"] < 0.1
    still = holdout.bc_with_shifts(onsets, np.zeros((frames, 13, 3)))
    assert still["bc"] == 0 and still["bc_shift_share"] == 1.0


def test_diversity_wrist_speed_and_jerk():
    a, b = swinging(120), swinging(120, phase=np.pi)
    assert holdout.diversity([a, a]) == 0
    assert holdout.diversity([a, b]) > 50
    assert holdout.wrist_speed(swinging(300, amplitude=200)) == pytest.approx(2 * holdout.wrist_speed(swinging(300)))
    assert holdout.mean_jerk(swinging(300, freq=2.0)) > 4 * holdout.mean_jerk(swinging(300))


def test_gesture_band_keeps_gestures_and_removes_jitter():
    gesture = swinging(300, freq=1.0)
    jitter = np.random.default_rng(3).normal(0, 8.0, gesture.shape)  # keypoint noise: flat spectrum
    noisy = gesture + jitter
    assert holdout.high_band_share(gesture) < 0.01
    assert holdout.high_band_share(noisy) > 0.3  # differencing makes white position noise mostly high-band velocity
    filtered = holdout.gesture_band(noisy)
    velocity_error = np.abs(np.diff(filtered - gesture, axis=0)).mean()
    assert velocity_error < 0.5 * np.abs(np.diff(jitter, axis=0)).mean()  # measured 0.42
    assert np.abs(holdout.gesture_band(gesture) - gesture)[20:-20].max() < 1.0  # no lag, no loss in the band
    # the band FD tells the same gesture with and without jitter apart far less than the raw velocity FD does
    raw = holdout.frechet_distance(holdout.velocity_rows(noisy), holdout.velocity_rows(gesture))
    band = holdout.frechet_distance(holdout.velocity_rows(filtered), holdout.velocity_rows(gesture))
    assert band < 0.25 * raw
    # filtering stops at a cut: the teleport does not ring into the frames around it
    jumped = teleported(gesture, 150)
    np.testing.assert_allclose(holdout.gesture_band(jumped, cuts=[150])[160:290], jumped[160:290], atol=1.0)


def teleported(x: np.ndarray, cut: int, jump: float = 400.0) -> np.ndarray:
    """x with every frame from `cut` on moved by `jump` mm: a jump cut's teleport."""
    out = x.copy()
    out[cut:] += jump
    return out


def test_a_cuts_teleport_leaks_into_no_temporal_metric():
    truth, sample = swinging(300, freq=0.7), swinging(300, freq=0.9, phase=1.0)
    onsets = np.sort(np.random.default_rng(2).uniform(0.3, 9.7, 15))
    jumped = teleported(truth, 150)
    # the fit's own figures: a cut's step is left out, so they match the same motion without the jump
    assert holdout.wrist_speed(jumped, cuts=[150]) == pytest.approx(holdout.wrist_speed(truth, cuts=[150]))
    assert holdout.wrist_speed(jumped, cuts=[150]) == pytest.approx(holdout.wrist_speed(truth), rel=0.02)
    assert holdout.wrist_speed(jumped) > 1.2 * holdout.wrist_speed(truth)  # what the cut did before
    assert holdout.mean_jerk(jumped, cuts=[150]) == pytest.approx(holdout.mean_jerk(truth), rel=0.05)
    assert holdout.mean_jerk(jumped) > 2 * holdout.mean_jerk(truth)
    assert len(holdout.velocity_rows(jumped, [150])) == 299 - 5  # steps into frames 148..152 (2 frames each side) out
    # a model sample against a fit with a cut: every temporal figure as without the teleport
    clean = holdout.candidate_metrics([sample], truth, onsets, truth_cuts=[150])
    cut = holdout.candidate_metrics([sample], jumped, onsets, truth_cuts=[150])
    leaked = holdout.candidate_metrics([sample], jumped, onsets)
    for key in ("fd_velocity", "wrist_speed_ratio", "jerk", "bc", "bc_z", "bc_shift_share"):
        assert cut[key] == pytest.approx(clean[key], nan_ok=True), key
    assert leaked["wrist_speed_ratio"] < 0.85 * cut["wrist_speed_ratio"]
    assert leaked["fd_velocity"] > cut["fd_velocity"]
    # a real stretch with a cut inside (the sample's own cut) against a fit without
    own = holdout.candidate_metrics([teleported(sample, 100)], truth, onsets, sample_cuts=[[100]])
    plain = holdout.candidate_metrics([sample], truth, onsets, sample_cuts=[[100]])
    for key in ("fd_velocity", "wrist_speed_ratio", "jerk", "bc", "bc_shift_share"):
        assert own[key] == pytest.approx(plain[key], nan_ok=True), key
    assert holdout.candidate_metrics([teleported(sample, 100)], truth, onsets)["jerk"] > 2 * plain["jerk"]


def test_seam_steps_leave_a_cut_out():
    x = swinging(300)
    with_cut = holdout.seam_ratio(teleported(x, 200), [128], cuts=[200])
    assert with_cut == pytest.approx(holdout.seam_ratio(x, [128], cuts=[200]))
    assert with_cut["other_step_mm"] == pytest.approx(holdout.seam_ratio(x, [128])["other_step_mm"], rel=0.02)
    assert holdout.seam_ratio(teleported(x, 200), [128])["other_step_mm"] > 1.1 * with_cut["other_step_mm"]


def test_real_stretches_and_retrieved_windows_lie_inside_shots():
    starts = holdout.random_stretches(400, 100, 20, seed=0, cuts=[50, 300])
    assert all(50 <= s <= 200 for s in starts)  # the only shot of 100 frames or more
    every_60 = list(range(60, 400, 60))  # no shot is long enough: the stretches cross the fewest cuts (one)
    for s in holdout.random_stretches(400, 100, 20, seed=1, cuts=every_60):
        assert len(holdout.cuts_inside(every_60, s, 100)) == 1
    assert holdout.cuts_inside([50, 300], 40, 100) == [10]
    assert holdout.random_stretches(400, 100, 3, seed=5) == holdout.random_stretches(400, 100, 3, seed=5, cuts=[])
    allowed = holdout.windows_inside_shots(400, 128, [200], 2)
    assert set(allowed) == set(range(0, 73)) | set(range(200, 273))
    assert holdout.windows_inside_shots(400, 128, [200], 3) is None  # two windows a window apart, not three
    rng = np.random.default_rng(0)
    picked = holdout.nearest_audio_windows(rng.standard_normal((400, 4)), rng.standard_normal((256, 4)), 128, 127,
                                           2, allowed)
    assert all(s in set(allowed) for starts in picked for s in starts)
    # a copied training cut is a cut of the assembled sequence; a window join is a seam, not a cut
    assert holdout.assembled_cuts(np.array([0, 127]), [150, 0], 200, 128, [200]) == [50]


def test_the_benchmark_code_path_on_generated_clips(tmp_path, quiet_one_thread, monkeypatch):
    from dr2model.train import TrainSettings, train_model
    from dr2prep.bodymodel.loading import load_body_model
    from tests.model.tiny_model import speech_clip

    train_clip = speech_clip(tmp_path / "work", "train", seconds=10.0, seed=3)
    heldout_clip = speech_clip(tmp_path / "work", "heldout", seconds=6.0, seed=4)
    model_dir = tmp_path / "model"
    train_model([train_clip], model_dir, TrainSettings(batch_size=2, window_stride=16, max_steps=5,
                                                       checkpoint_every=1000))
    for clip, cuts in ((train_clip, [100, 200]), (heldout_clip, [90])):  # shot changes, as dr2 prep records them
        path = clip / "smplx" / "params.npz"
        params = dict(np.load(path))
        np.savez(path, **params, shot_starts=np.asarray(cuts, np.int32))
    timings = {}
    truth_cuts_seen = []  # every candidate must be measured against the fit with its cuts left out
    measure = holdout.candidate_metrics

    def recording(samples, truth, onsets, fps=holdout.FPS, truth_cuts=(), sample_cuts=None):
        truth_cuts_seen.append(list(truth_cuts))
        return measure(samples, truth, onsets, fps, truth_cuts, sample_cuts)

    monkeypatch.setattr(holdout, "candidate_metrics", recording)
    report = holdout.evaluate_holdout(model_dir, train_clip, heldout_clip, load_body_model("open"), samples=3,
                                      long_seconds=10.0, work_dir=tmp_path / "speech", timings=timings)
    rows = {row["candidate"]: row for row in report["rows"]}
    assert list(rows) == ["model", "real stretch (training part)", "mean pose held still",
                          "nearest audio (training part)", "held-out fit (ceiling)"]
    assert report["frames"] == 180 and report["real_stretch_distance_mm"] > 0
    fit, still, model = rows["held-out fit (ceiling)"], rows["mean pose held still"], rows["model"]
    assert fit["fd_velocity"] == pytest.approx(0, abs=1e-3) and fit["wrist_speed_ratio"] == pytest.approx(1)
    assert still["wrist_speed_ratio"] == 0 and still["diversity_mm"] == 0 and still["bc_shift_share"] == 1
    assert still["fd_velocity"] > 0 and still["fd_centred_pose"] > 0
    assert rows["real stretch (training part)"]["diversity_mm"] > 0
    assert np.isfinite(model["long_seam_ratio"]) and np.isfinite(model["long_jerk"])
    assert np.isfinite(rows["nearest audio (training part)"]["long_seam_ratio"])
    assert set(report["targets"]) >= {"diversity>=30%real", "seam<=1.5", "shift_share<=0.10"}
    assert set(timings) == {"reference_joints_s", "synth_heldout_s", "synth_long_s", "baselines_s"}
    assert holdout.format_table(report)[0].startswith("candidate")
    assert truth_cuts_seen == [[90]] * 5  # model, real stretch, still, nearest audio, the fit
    shots = report["shots"]
    assert shots["heldout_cuts"] == [90] and shots["train_cuts"] == [100, 200]
    assert shots["heldout_steady_frames"] == 180 - 4
    assert shots["real_stretch_cuts"] == [1, 1, 1]  # 180 frames of 300 cut at 100 and 200: one cut at least
    fit = rows["held-out fit (ceiling)"]
    assert fit["long_jerk"] == report["fit_jerk"] and fit["wrist_speed_ratio"] == pytest.approx(1)
