"""The built-in audio feature: 29 values per 20 ms of speech that need no downloaded weights.

Loudness, spectral shape (MFCC), their changes, voicing, pitch and onsets: the cues that
gesture timing follows. Every channel is invariant to the recording level (energy is
measured against the clip's own speech level), so clips recorded loud or quiet compare.
"""

from __future__ import annotations

import numpy as np

from dr2common.rates import SAMPLE_RATE
from dr2prep.audio.mfcc import dct_matrix, mel_filterbank

FEATURE_RATE = 50  # rows per second, the same rate as DeepSpeech's network steps
HOP = SAMPLE_RATE // FEATURE_RATE  # 320 samples; row k is centred on sample k * HOP
SPECTRUM_WINDOW = 512  # 32 ms Hann window for the spectrum
PITCH_WINDOW = 640  # 40 ms: two periods of the lowest pitch searched
PITCH_BLOCK = 2048  # rows whose autocorrelations are computed at once (~40 s of audio, ~75 MB)
N_MELS = 40
N_MFCC = 12  # c1..c12; c0 (overall level) is left out, the energy channel carries it
PITCH_RANGE_HZ = (60.0, 400.0)  # adult speech
REFERENCE_PERCENTILE = 95  # the clip's speech level: 95th percentile of frame power
FLOOR_DB = -80.0  # powers below reference - 80 dB count as that
VOICED = 0.5  # normalised autocorrelation above which a frame is voiced
OCTAVE_GUARD = 0.9  # take the shortest lag whose autocorrelation is within 90 % of the best
DELTA_WIDTH = 2  # frames on each side of the regression slope (HTK deltas)
# Fixed scales that bring each group to roughly unit spread on speech (chosen on the real
# clips in ../shared/media); fixed, not per clip, so that feature values keep their meaning.
ENERGY_SCALE = 1 / 20.0  # dB -> about -4..0.5
MFCC_SCALE = 1 / 10.0
DELTA_MFCC_SCALE = 1 / 2.0
DELTA_ENERGY_SCALE = 1 / 3.0
FLUX_SCALE = 1 / 2.0

CHANNELS = (
    ("energy",)
    + tuple(f"mfcc_{i}" for i in range(1, N_MFCC + 1))
    + ("delta_energy",)
    + tuple(f"delta_mfcc_{i}" for i in range(1, N_MFCC + 1))
    + ("voicing", "pitch", "onset")
)
DIM = len(CHANNELS)  # 29, the width of DeepSpeech's logits, so the network is the same for both kinds
VERSION = "1"  # bump when any channel's computation changes: trained models check it


def _frames(signal: np.ndarray, window: int, n_frames: int) -> np.ndarray:
    """(n_frames, window) frames centred on k * HOP, zeros beyond the ends."""
    half = window // 2
    padded = np.zeros(half + n_frames * HOP + window, dtype=np.float32)
    padded[half : half + len(signal)] = signal
    return np.lib.stride_tricks.sliding_window_view(padded, window)[: n_frames * HOP : HOP]


def _deltas(x: np.ndarray) -> np.ndarray:
    """HTK regression slope over ±DELTA_WIDTH rows, per row (edges repeat the end rows)."""
    padded = np.pad(x, ((DELTA_WIDTH, DELTA_WIDTH), (0, 0)), mode="edge")
    n = len(x)
    slope = sum(k * (padded[DELTA_WIDTH + k : DELTA_WIDTH + k + n] - padded[DELTA_WIDTH - k : DELTA_WIDTH - k + n])
                for k in range(1, DELTA_WIDTH + 1))  # fmt: skip
    return slope / (2 * sum(k * k for k in range(1, DELTA_WIDTH + 1)))


def _voicing_and_pitch(signal: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised autocorrelation peak (0..1) and its pitch in Hz, per row.

    Rows are independent, so they are taken PITCH_BLOCK at a time: the autocorrelation
    arrays of all rows at once would take about 2 MB per second of audio (1.1 GB for a
    10-minute clip). Any block size gives the same values.
    """
    frames = _frames(signal, PITCH_WINDOW, n_frames)  # a view: no copy
    voicing, pitch = np.empty(n_frames), np.empty(n_frames)
    for start in range(0, n_frames, PITCH_BLOCK):
        block = slice(start, min(start + PITCH_BLOCK, n_frames))
        voicing[block], pitch[block] = _block_voicing_and_pitch(frames[block])
    return voicing, pitch


def _block_voicing_and_pitch(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_voicing_and_pitch of the (rows, PITCH_WINDOW) frames of one block."""
    frames = frames.astype(np.float64)
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(PITCH_WINDOW)
    spectrum = np.fft.rfft(frames, 2 * PITCH_WINDOW)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2)[:, :PITCH_WINDOW]
    # Divide by the window's own autocorrelation so a periodic signal peaks near 1 at any lag.
    window_ac = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(PITCH_WINDOW), 2 * PITCH_WINDOW)) ** 2)[:PITCH_WINDOW]
    lo = int(SAMPLE_RATE / PITCH_RANGE_HZ[1])
    hi = int(SAMPLE_RATE / PITCH_RANGE_HZ[0])
    energy = autocorr[:, :1]
    normalised = autocorr[:, lo : hi + 1] / np.maximum(energy, 1e-20) * (window_ac[0] / window_ac[lo : hi + 1])
    rows = np.arange(len(frames))
    peak = normalised.max(axis=1, keepdims=True)
    # The first lag near the best peak, climbed to its local top: a sub-octave (twice the
    # period) peaks about as high as the true period, and taking it would halve the pitch.
    best = np.argmax(normalised >= OCTAVE_GUARD * peak, axis=1)
    last = normalised.shape[1] - 1
    for _ in range(hi - lo):
        step = (best < last) & (normalised[rows, np.minimum(best + 1, last)] > normalised[rows, best])
        if not step.any():
            break
        best = best + step
    voicing = np.clip(normalised[rows, best], 0.0, 1.0)
    voicing[energy[:, 0] <= 1e-20] = 0.0
    return voicing, SAMPLE_RATE / (lo + best)


def builtin_features(samples: np.ndarray) -> np.ndarray:
    """(N,) float32 mono 16 kHz samples -> (1 + N // 320, 29) float32 at 50 rows/s.

    Channels (CHANNELS): energy in dB below the clip's speech level / 20; MFCC c1..c12 of
    40 log-mel bands / 10; regression deltas of energy and MFCCs; voicing (autocorrelation
    peak, 0..1); pitch in octaves from the clip's median voiced pitch (0 when unvoiced);
    onset strength (mean rise of the log-mel bands).
    """
    samples = np.asarray(samples, dtype=np.float32)
    n_frames = 1 + len(samples) // HOP
    frames = _frames(samples, SPECTRUM_WINDOW, n_frames) * np.hanning(SPECTRUM_WINDOW).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, SPECTRUM_WINDOW)) ** 2 / SPECTRUM_WINDOW
    frame_power = power.mean(axis=1).astype(np.float64)
    reference = float(np.percentile(frame_power, REFERENCE_PERCENTILE))
    floor_gain = 10 ** (FLOOR_DB / 10)
    floor = reference * floor_gain if reference > 0 else 1e-20  # relative floor keeps level invariance

    energy_db = 10 * np.log10((frame_power + floor) / (reference + floor))
    mels = power @ mel_filterbank(N_MELS, SPECTRUM_WINDOW, SAMPLE_RATE).T
    log_mels = np.log(mels + floor)
    mfccs = (log_mels @ dct_matrix(N_MELS).T)[:, 1 : N_MFCC + 1]
    onset = np.maximum(np.diff(log_mels, axis=0, prepend=log_mels[:1]), 0.0).mean(axis=1)

    voicing, pitch_hz = _voicing_and_pitch(samples, n_frames)
    voicing[energy_db < FLOOR_DB / 2] = 0.0  # far below the speech level: room noise, not voice
    voiced = voicing >= VOICED
    pitch = np.zeros(n_frames)
    if voiced.any():
        pitch[voiced] = np.log2(pitch_hz[voiced] / np.median(pitch_hz[voiced]))

    static = np.column_stack([energy_db * ENERGY_SCALE, mfccs * MFCC_SCALE])
    deltas = _deltas(np.column_stack([energy_db, mfccs]))
    features = np.column_stack([
        static,
        deltas[:, :1] * DELTA_ENERGY_SCALE,
        deltas[:, 1:] * DELTA_MFCC_SCALE,
        voicing,
        pitch,
        onset * FLUX_SCALE,
    ])  # fmt: skip
    return features.astype(np.float32)
