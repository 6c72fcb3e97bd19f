"""Loading speech for feature extraction: any WAV natively, anything else through ffmpeg.

Every extractor reads the same thing: mono float32 samples in [-1, 1] at 16 kHz. Channels
are averaged; other rates are resampled with a polyphase filter (scipy).
"""

from __future__ import annotations

import subprocess
from math import gcd
from pathlib import Path

import numpy as np

from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import ffmpeg_exe
from dr2common.rates import SAMPLE_RATE

SILENCE_PEAK = 10 ** (-60 / 20)  # peak below -60 dBFS: nothing a microphone would call speech


def _wav_to_float(data: np.ndarray) -> np.ndarray:
    """scipy.io.wavfile data of any sample format -> float64 in [-1, 1], shape (N, channels)."""
    if data.dtype == np.uint8:  # 8-bit WAV is unsigned around 128
        data = (data.astype(np.float64) - 128.0) / 128.0
    elif data.dtype.kind == "i":  # 16 bit; 24 bit arrives left-aligned in int32, as does 32 bit
        data = data.astype(np.float64) / float(2 ** (8 * data.dtype.itemsize - 1))
    elif data.dtype.kind == "f":
        data = data.astype(np.float64)
    else:
        raise ValueError(f"unsupported WAV sample type {data.dtype}")
    return data.reshape(len(data), -1)


def resample(samples: np.ndarray, rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) at `rate` -> (M,) at `target_rate`, M = round(N * target_rate / rate)."""
    if rate == target_rate:
        return samples
    from scipy.signal import resample_poly

    common = gcd(int(rate), int(target_rate))
    return resample_poly(samples, target_rate // common, int(rate) // common)


def to_mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """An array of samples ((N,) or (N, channels); int or float) -> (M,) float32 mono at 16 kHz."""
    samples = np.asarray(samples)
    if samples.dtype.kind in "iu":
        samples = _wav_to_float(samples)
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1:
        raise ValueError(f"audio must be (N,) or (N, channels), got {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise Dr2Error("the audio holds NaN or infinite samples; re-export it as 16-bit PCM WAV")
    return resample(samples, int(sample_rate)).astype(np.float32)


def _read_wav(path: Path) -> tuple[np.ndarray, int] | None:
    """(samples (N, channels) float64, rate), or None when the file is no WAV scipy can read."""
    import warnings

    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks (LIST, cue) are fine
            rate, data = wavfile.read(path)
        return _wav_to_float(data), int(rate)
    except (ValueError, EOFError, OSError):
        return None  # compressed WAV (mu-law, ADPCM), RF64 and other variants: ffmpeg decodes them


def _read_with_ffmpeg(path: Path) -> np.ndarray:
    """Any audio or video file -> (N,) float32 mono at 16 kHz, decoded and resampled by ffmpeg."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
               "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        reason = message[-1] if message else f"ffmpeg exit code {result.returncode}"
        raise Dr2Error(f"cannot read audio from {path} ({reason}); give a WAV, mp3 or m4a file with sound")
    return np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)


def load_audio(source: str | Path | np.ndarray, sample_rate: int | None = None) -> np.ndarray:
    """Speech as (N,) float32 mono samples in [-1, 1] at 16 kHz.

    `source` is a file (WAV of 8/16/24/32-bit integer or float samples, any rate and channel
    count; mp3, m4a or anything else ffmpeg decodes) or an array at `sample_rate` (default
    16 kHz), shaped (N,) or (N, channels).
    """
    if isinstance(source, np.ndarray):
        return to_mono_16k(source, sample_rate or SAMPLE_RATE)
    path = Path(source)
    if not path.is_file():
        raise Dr2Error(f"audio file {path} not found; check the path")
    if path.stat().st_size == 0:
        raise Dr2Error(f"audio file {path} is empty (0 bytes); export it again")
    wav = _read_wav(path) if path.suffix.lower() in (".wav", ".wave") else None
    if wav is None:
        return _read_with_ffmpeg(path)
    samples, rate = wav
    return to_mono_16k(samples, rate)


def is_silent(samples: np.ndarray) -> bool:
    """True when no sample reaches -60 dBFS."""
    return len(samples) == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK
