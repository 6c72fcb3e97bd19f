"""Reading speech of any format, the built-in feature, frame alignment and the kind check."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from dr2prep.audio import check_feature_kind, extract_features, feature_info, make_extractor
from dr2prep.audio import builtin_features as builtin_module
from dr2prep.audio.alignment import resample_to_frames
from dr2prep.audio.builtin_features import CHANNELS, DIM, FEATURE_RATE, builtin_features
from dr2prep.audio.reading import load_audio
from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import ffmpeg_exe


def speechlike(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Voiced bursts (harmonics of a gliding 120-220 Hz pitch) with pauses between them."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(170 + 50 * np.sin(2 * np.pi * 0.7 * t)) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = (np.sin(2 * np.pi * 1.3 * t) > -0.2).astype(float)
    return (0.2 * voice * envelope + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def encode(samples: np.ndarray, rate: int, channels: int, path, codec: str):
    """Write float samples (N, channels) with ffmpeg's `codec` (pcm_u8, pcm_s24le, libmp3lame, aac...)."""
    command = [ffmpeg_exe(), "-v", "error", "-y", "-f", "f32le", "-ar", str(rate), "-ac", str(channels),
               "-i", "pipe:0", "-c:a", codec, str(path)]  # fmt: skip
    subprocess.run(command, input=np.ascontiguousarray(samples, dtype="<f4").tobytes(), check=True)
    return path


@pytest.mark.parametrize("codec", ["pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le"])
def test_wav_of_every_sample_format_reads_the_same(tmp_path, codec):
    reference = speechlike(1.0)
    stereo = np.stack([reference, reference], axis=1)  # two identical channels average to the signal
    samples = load_audio(encode(stereo, 16000, 2, tmp_path / f"{codec}.wav", codec))
    tolerance = 1.5 / 128 if codec == "pcm_u8" else 1e-4
    assert samples.dtype == np.float32 and samples.shape == reference.shape
    assert np.abs(samples - reference).max() <= tolerance


def test_other_rates_are_resampled_to_16k(tmp_path):
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)
    samples = load_audio(encode(tone[:, None], 44100, 1, tmp_path / "a.wav", "pcm_s16le"))
    assert len(samples) == 16000
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over one second


@pytest.mark.parametrize("suffix, codec", [(".mp3", "libmp3lame"), (".m4a", "aac")])
def test_compressed_audio_goes_through_ffmpeg(tmp_path, suffix, codec):
    rate = 44100 if codec == "aac" else 22050
    reference = speechlike(1.0, rate=rate)
    path = encode(np.stack([reference, reference], axis=1), rate, 2, tmp_path / f"a{suffix}", codec)
    samples = load_audio(path)
    assert abs(len(samples) - 16000) < 2000  # encoders pad a little
    assert np.abs(samples).max() > 0.1
    assert extract_features(path).shape == (round(len(samples) / 16000 * 30), DIM)


def test_unreadable_audio_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio at all")
    with pytest.raises(Dr2Error, match="cannot read audio"):
        load_audio(bad)
    with pytest.raises(Dr2Error, match="not found"):
        load_audio(tmp_path / "missing.wav")


def test_array_input_any_rate_and_channels():
    reference = speechlike(0.5, rate=48000)
    samples = load_audio(np.stack([reference, -reference * 0], axis=1), sample_rate=48000)
    assert len(samples) == 8000
    ints = load_audio((speechlike(0.5) * 32767).astype(np.int16))
    np.testing.assert_allclose(ints, speechlike(0.5), atol=1e-4)


def test_builtin_channels_and_rate():
    features = builtin_features(speechlike(2.0))
    assert len(CHANNELS) == DIM == 29
    assert features.shape == (1 + 32000 // 320, 29) and features.dtype == np.float32
    assert FEATURE_RATE == 50 and np.isfinite(features).all()


def test_builtin_pitch_in_blocks_gives_the_same_features(monkeypatch):
    """Long clips compute voicing and pitch PITCH_BLOCK rows at a time (bounded memory): same values."""
    samples = speechlike(3.0)
    monkeypatch.setattr(builtin_module, "PITCH_BLOCK", 10**9)
    whole = builtin_features(samples)
    monkeypatch.setattr(builtin_module, "PITCH_BLOCK", 7)
    np.testing.assert_array_equal(builtin_features(samples), whole)


def test_builtin_is_invariant_to_recording_level():
    loud = speechlike(2.0)
    np.testing.assert_allclose(builtin_features(loud * 0.03), builtin_features(loud), atol=1e-3)


def test_builtin_tells_voice_from_pause():
    samples = speechlike(3.0)
    features = builtin_features(samples)
    t = np.arange(len(features)) / FEATURE_RATE
    voiced = np.sin(2 * np.pi * 1.3 * t) > 0.2
    pause = np.sin(2 * np.pi * 1.3 * t) < -0.6
    energy, voicing = CHANNELS.index("energy"), CHANNELS.index("voicing")
    assert features[voiced, energy].mean() - features[pause, energy].mean() > 1.0  # > 20 dB
    assert features[voiced, voicing].mean() > 0.8 > 0.3 > features[pause, voicing].mean()
    pitch = features[voiced, CHANNELS.index("pitch")]
    assert np.abs(pitch).max() < 0.8  # within the 120-220 Hz glide around its median


def test_silent_audio_gives_features_and_a_warning(capsys, tmp_path):
    silent = np.zeros(16000, dtype=np.float32)
    features = extract_features(silent)
    assert features.shape == (30, 29) and np.isfinite(features).all()
    assert "silent" in capsys.readouterr().err


def test_audio_shorter_than_a_frame_is_refused():
    with pytest.raises(Dr2Error, match="shorter than one 30 FPS frame"):
        extract_features(np.zeros(400, dtype=np.float32))


def test_resampling_to_frames_is_linear_and_holds_the_ends():
    rows = np.arange(50, dtype=np.float64)[:, None] * np.ones((1, 3))  # one second at 50 rows/s
    frames = resample_to_frames(rows, 50, 33, fps=30)
    assert frames.shape == (33, 3)
    np.testing.assert_allclose(frames[:30, 0], np.arange(30) * 50 / 30, atol=1e-5)
    np.testing.assert_allclose(frames[30:, 0], 49.0)  # past the last row: held


def test_feature_kind_mismatch_is_refused():
    builtin = feature_info(make_extractor("builtin"))
    check_feature_kind(builtin, dict(builtin))
    deepspeech = {"kind": "deepspeech", "dim": 29, "version": "v0.1.x-port-1", "fps": 30, "graph_sha256": "ab" * 32}
    with pytest.raises(Dr2Error, match="trained on 'deepspeech' audio features but these are 'builtin'"):
        check_feature_kind(deepspeech, builtin)
    with pytest.raises(Dr2Error, match="leave out --deepspeech-graph"):
        check_feature_kind(builtin, deepspeech)
    with pytest.raises(Dr2Error, match="same output_graph.pb"):
        check_feature_kind(deepspeech, {**deepspeech, "graph_sha256": "cd" * 32})
    with pytest.raises(Dr2Error, match="version"):
        check_feature_kind(builtin, {**builtin, "version": "0"})
