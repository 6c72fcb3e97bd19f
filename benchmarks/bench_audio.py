"""Real-time factor of the audio feature extractors on CPU (seconds of compute per second of speech).

Speech: the real clips in ../shared/media concatenated to --seconds (synthetic voiced bursts
when they are absent). DeepSpeech runs a random-weight graph of the real v0.1.0 sizes (2048
hidden, 2048 LSTM cell), written to a temporary output_graph.pb and loaded like the real one.
Goals: built-in <= 0.01, DeepSpeech port <= 0.05.

    .venv/bin/python benchmarks/bench_audio.py [--seconds 60] [--skip-deepspeech]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dr2prep.audio import extract_features, make_extractor  # noqa: E402
from dr2prep.audio.deepspeech_graph import random_deepspeech_tensors, write_constants_graph  # noqa: E402
from dr2prep.audio.mfcc import deepspeech_input, mfcc, to_int16_scale  # noqa: E402
from dr2common.rates import SAMPLE_RATE  # noqa: E402
from dr2prep.audio.reading import load_audio  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = ("oliver_talkshow_7s.mp4", "tedx_speaker_9s.mp4")


def speech(seconds: float) -> tuple[np.ndarray, str]:
    """(N,) 16 kHz speech of `seconds`, and where it came from."""
    n = int(seconds * SAMPLE_RATE)
    if all((MEDIA / c).is_file() for c in CLIPS):
        pieces = [load_audio(MEDIA / c) for c in CLIPS]
        joined = np.concatenate(pieces * (1 + n // sum(len(p) for p in pieces)))
        return joined[:n], "real clips, concatenated"
    t = np.arange(n) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(170 + 50 * np.sin(2 * np.pi * 0.7 * t)) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12)) * (np.sin(2 * np.pi * 1.3 * t) > -0.2)
    return (0.2 * voice).astype(np.float32), "synthetic voiced bursts (real clips absent)"


def timed(function, repeat: int = 1):
    """(best seconds of `repeat` runs, last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--skip-deepspeech", action="store_true")
    args = parser.parse_args()
    samples, source = speech(args.seconds)
    seconds = len(samples) / SAMPLE_RATE
    print(f"speech: {seconds:.0f} s ({source}); torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work skews the figures)")
    rows = []

    builtin_s, features = timed(lambda: extract_features(samples, kind="builtin"), repeat=3)
    rows.append(("builtin (total, 30 FPS rows)", builtin_s, 0.01))
    try:
        import python_speech_features as psf

        ours_s, _ = timed(lambda: mfcc(to_int16_scale(samples)), repeat=3)
        psf_s, _ = timed(lambda: psf.mfcc(to_int16_scale(samples), samplerate=16000, numcep=26), repeat=3)
        baseline = (
            f"MFCC front end: numpy port {ours_s:.3f} s vs python_speech_features {psf_s:.3f} s "
            f"({psf_s / ours_s:.1f}x)"
        )
    except ImportError:
        baseline = "MFCC front end: python_speech_features not installed, no baseline"

    notes = [baseline]
    if not args.skip_deepspeech:
        with tempfile.TemporaryDirectory() as tmp:
            graph = Path(tmp) / "output_graph.pb"
            write_constants_graph(graph, random_deepspeech_tensors(n_hidden=2048, seed=0))
            size_mb = graph.stat().st_size / 1e6
            load_s, extractor = timed(lambda: make_extractor("deepspeech", graph))
        front_s, net_input = timed(lambda: deepspeech_input(samples), repeat=3)
        net_s, _ = timed(lambda: extractor.logits(net_input, show_progress=False))
        rows.append(("deepspeech front end (MFCC, 50 steps/s)", front_s, None))
        rows.append(("deepspeech network (2048 hidden, BiLSTM)", net_s, None))
        rows.append(("deepspeech (total, without graph load)", front_s + net_s, 0.05))
        notes.append(f"graph load: {load_s:.1f} s for a {size_mb:.0f} MB output_graph.pb (once per run)")

        lstm = extractor.net.lstm
        kernels = [lstm.forward_lstm.weight_hh_l0.detach(), lstm.backward_lstm.weight_hh_l0.detach()]
        h = torch.zeros(lstm.n_cell)
        step_s, _ = timed(lambda: [torch.mv(k, h) for k in kernels], repeat=20)  # memory-bound: reads both
        steps = len(net_input)
        megabytes = sum(k.numel() for k in kernels) * 4 / 1e6
        notes.append(
            f"recurrence floor: {steps} steps x {step_s * 1e3:.1f} ms (one read of both recurrent matrices, "
            f"{megabytes:.0f} MB) = {steps * step_s:.1f} s, RTF {steps * step_s / seconds:.3f}"
        )

    print(f"\n{'extractor':<44}{'seconds':>9}{'RTF':>9}{'goal':>7}{'met':>6}")
    for name, s, goal in rows:
        rtf = s / seconds
        goal_text = f"{goal:.2f}" if goal else ""
        met = ("yes" if rtf <= goal else "no") if goal else ""
        print(f"{name:<44}{s:>9.2f}{rtf:>9.4f}{goal_text:>7}{met:>6}")
    print()
    for note in notes:
        print(note)
    print(f"builtin output {features.shape} for {seconds:.0f} s at 30 FPS; load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
