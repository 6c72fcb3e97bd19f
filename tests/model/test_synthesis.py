"""Synthesis: output length, continuous window seams (Eq. 2), one-to-many samples, npz for smplx.SMPLX, errors."""

from __future__ import annotations

import json
import shutil
import wave

import numpy as np
import pytest
import torch

from dr2model.checkpoint import CODECS, CONFIG, load_model
from dr2model.synthesis import (
    SMPLX_KEYS,
    STRIDE,
    load_sample,
    seam_frames,
    speech_features,
    synthesize,
    synthesize_states,
    window_starts,
)
from dr2prep.bodymodel.loading import load_body_model
from dr2common.errors import Dr2Error
from tests.model.tiny_model import speech_wav


pytestmark = pytest.mark.usefixtures("quiet_one_thread")


@pytest.fixture(scope="session")
def model(model_dir):
    return load_model(model_dir)


@pytest.fixture(scope="session")
def long_speech(tmp_path_factory):
    return speech_wav(tmp_path_factory.mktemp("speech") / "talk.wav", 20.0, seed=9)


def test_window_starts_cover_the_audio_and_end_aligned():
    assert list(window_starts(128)) == [0]
    assert list(window_starts(255)) == [0, 127]
    assert list(window_starts(256)) == [0, 127, 128]  # last window aligned to the end
    starts = window_starts(600)
    assert list(starts) == [0, 127, 254, 381, 472]
    assert starts[-1] + 128 == 600 and np.all(np.diff(starts[:-1]) == STRIDE)


@pytest.mark.parametrize("seconds", [0.5, 4.0, 10.3])
def test_output_length_equals_audio_frames(model_dir, tmp_path, seconds):
    wav = speech_wav(tmp_path / "speech.wav", seconds, seed=3)
    outputs = synthesize(model_dir, wav, tmp_path / "out", num_samples=1, preview=False)
    frames = int(round(seconds * 30))
    params = load_sample(outputs[0].params_path)
    assert set(params) == set(SMPLX_KEYS)
    assert all(value.shape[0] == frames for value in params.values())
    assert outputs[0].frames == frames and outputs[0].preview_path is None
    assert json.loads(outputs[0].info_path.read_text())["frames"] == frames


def _jumps(pose: np.ndarray) -> np.ndarray:
    """(N, T-1) mean absolute change of the pose state from frame t to t+1."""
    return np.abs(np.diff(pose, axis=1)).mean(axis=2)


def test_window_seams_are_as_smooth_as_the_rest(model, long_speech):
    # The paper's path: stride 127, Eq. 2 only, no low-pass.
    smoothed = synthesize_states(model, long_speech, num_samples=3, seed=0, overlap=1, state_noise=0.0, low_pass_hz=0)
    raw = synthesize_states(model, long_speech, num_samples=3, seed=0, smoothing=0, overlap=1, state_noise=0.0,
                            low_pass_hz=0)
    frames = smoothed.pose.shape[1]
    seams = list(window_starts(frames)[1:])  # each window joins at its start frame
    jumps, raw_jumps = _jumps(smoothed.pose), _jumps(raw.pose)
    inside = np.delete(jumps, seams, axis=1)
    # A seam moves the body no more than a typical frame inside a window does ...
    assert jumps[:, seams].max() <= np.percentile(inside, 95), (jumps[:, seams], np.percentile(inside, 95))
    # ... and Eq. 2 is what makes it so: without it the seams jump.
    assert jumps[:, seams].mean() < 0.7 * raw_jumps[:, seams].mean()
    # Inside the first window nothing changes (smoothing only acts after a join).
    np.testing.assert_array_equal(smoothed.pose[:, :128], raw.pose[:, :128])


def _power_above(x: np.ndarray, hz: float) -> float:
    """Share of the frame-to-frame change's power above `hz` (30 FPS), over every sample and channel."""
    steps = np.diff(x, axis=1)
    steps = (steps - steps.mean(axis=1, keepdims=True)) * np.hanning(steps.shape[1])[None, :, None]  # no leakage
    spectrum = np.abs(np.fft.rfft(steps, axis=1)) ** 2
    above = np.fft.rfftfreq(x.shape[1] - 1, 1 / 30) > hz
    return float(spectrum[:, above].sum() / spectrum.sum())


def test_output_is_kept_to_the_fits_band(model, long_speech):
    from dr2common.low_pass import GESTURE_BAND_HZ
    from dr2model.synthesis import LOW_PASS_HZ, PAPER_SYNTH_OPTIONS

    assert LOW_PASS_HZ == GESTURE_BAND_HZ and PAPER_SYNTH_OPTIONS["low_pass_hz"] == 0.0
    kept = synthesize_states(model, long_speech, num_samples=2, seed=0)
    raw = synthesize_states(model, long_speech, num_samples=2, seed=0, low_pass_hz=0)
    assert _power_above(raw.pose, 11.0) > 3e-4  # the tiny network's output does reach above the band ...
    assert _power_above(kept.pose, 11.0) < 1e-3 * _power_above(raw.pose, 11.0)  # ... and the default cuts it
    assert _power_above(kept.face, 11.0) < 1e-3 * _power_above(raw.face, 11.0)
    # the gestures themselves stay: the filtered motion is the raw motion less its fast part
    assert np.abs(kept.pose - raw.pose).mean() < 0.05 * np.abs(raw.pose - raw.pose.mean(axis=1, keepdims=True)).mean()
    assert kept.pose.shape == raw.pose.shape and kept.pose.dtype == np.float32
    for bad in (-1.0, 15.0, 40.0):
        with pytest.raises(Dr2Error, match="--low-pass-hz"):
            synthesize_states(model, long_speech, low_pass_hz=bad)


def test_samples_differ_and_seeds_reproduce(model, long_speech):
    a = synthesize_states(model, long_speech, num_samples=3, seed=5)
    b = synthesize_states(model, long_speech, num_samples=3, seed=5)
    np.testing.assert_array_equal(a.pose, b.pose)
    assert list(a.seeds) == [5, 6, 7]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(a.pose[i] - a.pose[j]).mean() > 1e-4, (i, j)
    # Sample k of N is the same sequence as a single run with seed + k.
    single = synthesize_states(model, long_speech, num_samples=1, seed=6)
    np.testing.assert_allclose(single.pose[0], a.pose[1], atol=1e-5)


def test_same_initial_frame_still_gives_different_samples(model, long_speech):
    result = synthesize_states(model, long_speech, num_samples=2, seed=0, init_frame=10)
    assert list(result.init_frames) == [10, 10]
    assert np.abs(result.pose[0] - result.pose[1]).mean() > 1e-4


def test_npz_drives_smplx_directly(model_dir, model, tmp_path):
    wav = speech_wav(tmp_path / "speech.wav", 5.0, seed=4)
    outputs = synthesize(model_dir, wav, tmp_path / "out", num_samples=1, seed=1, preview=False)
    params = load_sample(outputs[0].params_path)
    frames = outputs[0].frames
    body = load_body_model("open")
    layer = body.smplx_layer(batch_size=frames)  # smplx.SMPLX(use_pca=False, flat_hand_mean=False)
    with torch.no_grad():
        out = layer(**{key: torch.from_numpy(value) for key, value in params.items()})
    assert out.vertices.shape == (frames, 24384, 3) and torch.isfinite(out.vertices).all()
    # The trained speaker's shape and orientation, constant over the sequence.
    identity = model.codecs.clips[int(model.state_bank_clip[outputs[0].init_frame])]
    np.testing.assert_allclose(params["betas"], np.tile(identity.betas, (frames, 1)), atol=1e-6)
    np.testing.assert_allclose(params["global_orient"], np.tile(identity.global_orient, (frames, 1)), atol=1e-6)
    # The body moves (it is not a frozen pose) and sits where the speaker sat.
    assert np.abs(np.diff(params["body_pose"], axis=0)).max() > 1e-4
    assert np.abs(params["transl"].mean(axis=0) - identity.translation.mean).max() < 0.5


def test_audio_shorter_than_one_frame(model_dir, tmp_path):
    path = tmp_path / "click.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.full(100, 1000, "<i2").tobytes())
    with pytest.raises(Dr2Error, match="shorter than one"):
        synthesize(model_dir, path, tmp_path / "out", preview=False)


def test_incomplete_model_directory(model_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    (broken / CODECS).unlink()
    with pytest.raises(Dr2Error, match="incomplete"):
        synthesize(broken, speech_wav(tmp_path / "s.wav", 1.0, 0), tmp_path / "out", preview=False)
    with pytest.raises(Dr2Error, match="not a trained dr2 model"):
        synthesize(tmp_path, speech_wav(tmp_path / "s.wav", 1.0, 0), tmp_path / "out", preview=False)


def test_feature_kind_mismatch(model_dir, tmp_path):
    other = tmp_path / "model"
    shutil.copytree(model_dir, other)
    config = json.loads((other / CONFIG).read_text())
    config["feature_description"]["version"] = "0-older"
    (other / CONFIG).write_text(json.dumps(config))
    with pytest.raises(Dr2Error, match="audio features differ"):
        synthesize(other, speech_wav(tmp_path / "s.wav", 1.0, 0), tmp_path / "out", preview=False)
    config["feature_kind"], config["feature_description"]["kind"] = "deepspeech", "deepspeech"
    (other / CONFIG).write_text(json.dumps(config))
    with pytest.raises(Dr2Error, match="(?i)deepspeech"):
        synthesize(other, speech_wav(tmp_path / "s.wav", 1.0, 0), tmp_path / "out", preview=False)


def test_output_not_writable(model_dir, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the output folder should go")
    with pytest.raises(Dr2Error, match="cannot write to output directory"):
        synthesize(model_dir, speech_wav(tmp_path / "s.wav", 1.0, 0), blocker / "out", preview=False)


def test_bad_sample_options(model, tmp_path):
    wav = speech_wav(tmp_path / "s.wav", 1.0, 0)
    with pytest.raises(Dr2Error, match="--init-frame"):
        synthesize_states(model, wav, init_frame=len(model.state_bank))
    with pytest.raises(Dr2Error, match="--num-samples"):
        synthesize_states(model, wav, num_samples=0)


def test_long_speech_features_in_chunks_match_whole(monkeypatch):
    import dr2model.synthesis as synthesis
    from dr2model.demo_input import speech_like_audio, syllable_onsets
    from dr2prep.audio.extractor import frame_features, make_extractor

    rng = np.random.default_rng(0)
    samples = np.tile(speech_like_audio(syllable_onsets(rng, 5.0), 5.0, rng), 4)  # 20 s at a steady level
    extractor = make_extractor("builtin")
    whole = frame_features(extractor, samples, 600, 30)
    monkeypatch.setattr(synthesis, "FEATURE_CHUNK_FRAMES", 150)  # 4 chunks instead of one per 5 minutes
    chunked = synthesis.chunked_features(extractor, samples, 600)
    assert chunked.shape == whole.shape
    assert np.abs(chunked - whole).mean() < 0.005 * np.abs(whole).mean()
    assert np.median(np.abs(chunked - whole)) < 1e-5  # rows land exactly where whole-signal rows do


def test_the_end_aligned_last_window_is_cross_faded_over_the_overlap_only(model, long_speech):
    from dr2model.synthesis import OVERLAP, generate_states

    features, _ = speech_features(model, long_speech)
    states = model.state_bank[[10, 200]].numpy()
    one_window = generate_states(model.network, features[:128], states, overlap=OVERLAP)[0]
    two_windows = generate_states(model.network, features[:150], states, overlap=OVERLAP)[0]  # starts 0 and 22
    takes_over = 128 - OVERLAP  # frame 96: the last window shares 106 frames but blends only the last 31
    assert seam_frames(150, OVERLAP) == [(takes_over + 1, 128)]
    # the first window's frames stand until then (up to float noise: the audio is encoded in another batch) ...
    np.testing.assert_allclose(two_windows[:, :takes_over + 1], one_window[:, :takes_over + 1], atol=1e-5)
    # ... and the last window blends in after
    assert np.abs(two_windows[:, takes_over + 1:128] - one_window[:, takes_over + 1:128]).mean() > 1e-4


def test_cross_faded_overlap_joins_windows_without_a_jump(model, long_speech):
    overlap = 32
    faded = synthesize_states(model, long_speech, num_samples=3, seed=0, overlap=overlap, state_noise=0.0,
                              low_pass_hz=0)
    cut = synthesize_states(model, long_speech, num_samples=3, seed=0, overlap=1, state_noise=0.0, smoothing=0,
                            low_pass_hz=0)
    jumps = _jumps(faded.pose)
    seams = seam_frames(faded.pose.shape[1], overlap)
    assert len(seams) >= 2 and all(last - first == overlap - 1 for first, last in seams[:-1])
    in_seams = np.concatenate([np.arange(first - 1, last) for first, last in seams])
    inside = np.delete(jumps, in_seams, axis=1).mean()
    # Each cross-faded join moves the body about as much per frame as the rest does ...
    per_seam = [jumps[:, first - 1:last].mean() for first, last in seams]
    assert max(per_seam) <= 1.5 * inside, (per_seam, inside)
    # ... while cutting windows without Eq. 2 or a cross-fade jumps at each seam.
    cut_seams = [last for _, last in seam_frames(cut.pose.shape[1], 1)]
    assert _jumps(cut.pose)[:, [f - 1 for f in cut_seams]].mean() > 1.5 * max(per_seam)


def test_state_noise_changes_samples_reproducibly(model, long_speech):
    plain = synthesize_states(model, long_speech, num_samples=2, seed=3, state_noise=0.0)
    noisy = synthesize_states(model, long_speech, num_samples=2, seed=3, state_noise=0.3)
    again = synthesize_states(model, long_speech, num_samples=2, seed=3, state_noise=0.3)
    np.testing.assert_array_equal(noisy.pose, again.pose)
    assert np.abs(noisy.pose - plain.pose).mean() > 1e-4
