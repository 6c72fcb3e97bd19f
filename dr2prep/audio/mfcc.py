"""The DeepSpeech v0.1.0 front end: 26 MFCCs every 10 ms, every second frame, 9 frames of context.

The arithmetic is python_speech_features 0.6 `mfcc(audio, samplerate=16000, numcep=26)` followed
by DeepSpeech's `audioToInputVector` (util/audio.py, copied verbatim by VOCA's audio_handler.py),
rewritten in numpy so that neither that library nor TensorFlow is needed at run time.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dr2common.rates import SAMPLE_RATE

WINDOW_SECONDS = 0.025  # 400 samples, a rectangular window (python_speech_features' default)
HOP_SECONDS = 0.01  # 160 samples
N_FFT = 512
N_FILTERS = 26  # mel bands from 0 Hz to the Nyquist frequency
N_CEPSTRA = 26  # DeepSpeech's n_input
PREEMPHASIS = 0.97
CEPSTRAL_LIFTER = 22
N_CONTEXT = 9  # frames of context on each side (DeepSpeech's n_context)
FRAME_STRIDE = 2  # DeepSpeech keeps every second MFCC frame ("BiRNN stride = 2")
FEATURE_RATE = 1 / (HOP_SECONDS * FRAME_STRIDE)  # 50 network steps per second
INPUT_WIDTH = N_CEPSTRA * (2 * N_CONTEXT + 1)  # 494 values per network step
INT16_SCALE = 32768.0  # DeepSpeech reads 16-bit PCM as integers, not as floats in [-1, 1]
_EPS = np.finfo(float).eps  # python_speech_features' floor for zero energies


def frame_signal(signal: np.ndarray, frame_len: int, frame_step: int) -> np.ndarray:
    """(N,) -> (F, frame_len) frames; the tail is zero-padded to a whole frame.

    F = 1 when the signal is no longer than a frame, else 1 + ceil((N - frame_len) / frame_step),
    as python_speech_features' `framesig`.
    """
    n = len(signal)
    n_frames = 1 if n <= frame_len else 1 + int(np.ceil((n - frame_len) / frame_step))
    padded = np.zeros((n_frames - 1) * frame_step + frame_len, dtype=np.float64)
    padded[:n] = signal
    return np.lib.stride_tricks.sliding_window_view(padded, frame_len)[::frame_step]


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(n_filters: int = N_FILTERS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_filters, n_fft // 2 + 1) triangular filters on FFT bins, python_speech_features' layout.

    The bin edges are floor((n_fft + 1) * f / sample_rate) of mel-spaced frequencies from 0 Hz
    to the Nyquist frequency.
    """
    mel_points = np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_filters + 2)
    edges = np.floor((n_fft + 1) * mel_to_hz(mel_points) / sample_rate)
    bank = np.zeros((n_filters, n_fft // 2 + 1))
    bins = np.arange(n_fft // 2 + 1)
    for j in range(n_filters):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        rising = (bins >= lo) & (bins < mid)
        falling = (bins >= mid) & (bins < hi)
        bank[j, rising] = (bins[rising] - lo) / (mid - lo)
        bank[j, falling] = (hi - bins[falling]) / (hi - mid)
    bank.setflags(write=False)
    return bank


@lru_cache(maxsize=4)
def dct_matrix(n: int) -> np.ndarray:
    """(n, n) orthonormal DCT-II: `x @ dct_matrix(n).T` equals scipy's dct(x, type=2, norm='ortho')."""
    k = np.arange(n)[:, None]
    m = np.arange(n)[None, :]
    matrix = np.cos(np.pi * k * (2 * m + 1) / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    matrix.setflags(write=False)
    return matrix


def mfcc(signal: np.ndarray, sample_rate: int = SAMPLE_RATE, n_cepstra: int = N_CEPSTRA) -> np.ndarray:
    """(N,) samples -> (F, n_cepstra) MFCCs at 100 frames/s, coefficient 0 replaced by log frame energy.

    Pre-emphasis 0.97, 25 ms rectangular frames every 10 ms, |FFT 512|² / 512, 26 mel bands,
    natural log, orthonormal DCT-II, lifter 22: python_speech_features 0.6 with its defaults.
    """
    signal = np.asarray(signal, dtype=np.float64)
    emphasized = np.append(signal[:1], signal[1:] - PREEMPHASIS * signal[:-1])
    frame_len = int(round(WINDOW_SECONDS * sample_rate))
    frame_step = int(round(HOP_SECONDS * sample_rate))
    frames = frame_signal(emphasized, frame_len, frame_step)
    power = np.square(np.abs(np.fft.rfft(frames, N_FFT))) / N_FFT
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, _EPS, energy)
    bands = power @ mel_filterbank(N_FILTERS, N_FFT, sample_rate).T
    bands = np.where(bands == 0, _EPS, bands)
    cepstra = np.log(bands) @ dct_matrix(N_FILTERS).T[:, :n_cepstra]
    n = np.arange(n_cepstra)
    cepstra *= 1.0 + (CEPSTRAL_LIFTER / 2.0) * np.sin(np.pi * n / CEPSTRAL_LIFTER)
    cepstra[:, 0] = np.log(energy)
    return cepstra


def to_int16_scale(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> the integer values a 16-bit WAV holds (truncated, as VOCA's astype)."""
    return np.clip(np.trunc(np.asarray(samples, dtype=np.float64) * INT16_SCALE), -INT16_SCALE, INT16_SCALE - 1)


def deepspeech_input(samples: np.ndarray) -> np.ndarray:
    """(N,) float samples at 16 kHz in [-1, 1] -> (S, 494) float32 network input, S = 50 steps/s.

    Each step holds 19 MFCC frames (9 before, itself, 9 after; zeros beyond the ends),
    and the whole array is standardised by its own mean and standard deviation, as
    DeepSpeech v0.1.0 and VOCA do. A constant input (silence) is only centred.
    """
    features = mfcc(to_int16_scale(samples))[::FRAME_STRIDE]
    n_steps = len(features)
    padded = np.concatenate([np.zeros((N_CONTEXT, N_CEPSTRA)), features, np.zeros((N_CONTEXT, N_CEPSTRA))])
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2 * N_CONTEXT + 1, N_CEPSTRA))[:, 0]
    inputs = windows.reshape(n_steps, INPUT_WIDTH)
    std = inputs.std()
    inputs = (inputs - inputs.mean()) / (std if std > 0 else 1.0)
    return inputs.astype(np.float32)
