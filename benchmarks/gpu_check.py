"""`make gpu-check`: the CUDA-marked tests, then fit, training (AMP), synthesis and the DeepSpeech port on CUDA
beside the CPU, in one table.

Run: python benchmarks/gpu_check.py [--skip-tests] [--cpu-only]
Without CUDA it says so, runs the CPU rows (small sizes, so they finish on a busy laptop) and exits 0.
Inputs are generated (no footage, no licensed model): a synthetic speaker for the fit
(dr2prep.fitting.synthetic), two minutes of synthetic clips for training (the paper's amount),
speech-like audio for synthesis, and a random-weight DeepSpeech v0.1.0 graph of the real sizes
(speed does not depend on the weights). Goals, on one H100/H200-class GPU: fit >= 1,000 frames/s;
default training on 2 minutes of footage (100 epochs) <= 3 minutes; DeepSpeech port real-time
factor <= 0.005; synthesis of 60 s of speech <= 0.1 s. Whole run < 8 minutes on one GPU.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dr2common.progress import set_quiet  # noqa: E402
from dr2common.rates import FPS

TRAIN_SECONDS = 120.0  # the paper's ~2 minutes of footage
GOALS = {  # on one CUDA GPU
    "fit": ("frames/s", ">=", 1000.0),
    "training": ("100 epochs s", "<=", 180.0),
    "deepspeech": ("RTF", "<=", 0.005),
    "synthesis": ("s for 60 s", "<=", 0.1),
}


@dataclass(frozen=True)
class Sizes:
    """Work per benchmark: full sizes on a GPU, small ones on the CPU (the figures are rates)."""

    fit_frames: int
    train_steps: int
    speech_seconds: float


GPU_SIZES = Sizes(fit_frames=2048, train_steps=300, speech_seconds=60.0)
CPU_SIZES = Sizes(fit_frames=64, train_steps=8, speech_seconds=20.0)


@dataclass
class Row:
    benchmark: str
    device: str
    work: str
    seconds: float
    rate: str  # frames/s or windows/s
    rtf: float | None  # seconds of compute per second of video or speech
    goal_value: float | None  # the figure the goal is about
    peak_gpu_mib: float | None


def peak_gpu(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None


def reset_gpu(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench_fit(device: str, frames: int) -> Row:
    """The fit stage's two parts on a synthetic speaker: the reference frame, then the frames (window mode)."""
    from dr2prep.bodymodel.loading import load_body_model
    from dr2prep.fitting.fit import FitSettings, clip_objective, fit_reference_frames, fit_sequence
    from dr2prep.fitting.stage import cpu_threads
    from dr2prep.fitting.synthetic import make_clip

    body = load_body_model("open")
    clip = make_clip(body, n_frames=frames, seed=0, focal_length=FitSettings().focal_length)
    settings = FitSettings()
    reset_gpu(device)
    with cpu_threads(1 if device == "cpu" else None):  # as the stage runs it
        started = time.perf_counter()
        reference = fit_reference_frames(body, clip.keypoints, settings, clip.image_size, device)
        sync(device)
        reference_s = time.perf_counter() - started
        objective = clip_objective(body, reference, settings, clip.image_size, device)
        started = time.perf_counter()
        fitted = sum(len(c.x) for c in fit_sequence(objective, clip.keypoints, reference, settings, device))
        sync(device)
        frames_s = time.perf_counter() - started
    return Row("fit", device, f"{fitted} frames + reference {reference_s:.1f} s", frames_s,
               f"{fitted / frames_s:.0f} frames/s", (frames_s + reference_s) / (fitted / FPS), fitted / frames_s,
               peak_gpu(device))


def training_clips(folder: Path):
    """Two minutes of synthetic clips (two of one minute), with their codecs, as `dr2 train` would see them."""
    from bench_synth import synthetic_clips

    return synthetic_clips(folder, TRAIN_SECONDS / 2)


def bench_training(device: str, steps: int, folder: Path) -> tuple[Row, Path]:
    """Default settings (AMP on CUDA) for `steps` steps on 2 minutes of clips; 100 epochs extrapolated."""
    from dr2model.dataset import GestureWindows
    from dr2model.network import WINDOW
    from dr2model.train import TrainSettings, train_model

    clips, codecs = training_clips(folder)
    settings = TrainSettings(max_steps=steps, checkpoint_every=10**9)
    windows_per_epoch = len(GestureWindows(clips, WINDOW, settings.window_stride))
    reset_gpu(device)
    started = time.perf_counter()
    result = train_model(clips, folder / f"model-{device}", settings, device=device, codecs=codecs, force=True)
    sync(device)
    seconds = time.perf_counter() - started
    per_second = result.windows_per_second or steps * settings.batch_size / seconds
    hundred_epochs = 100 * windows_per_epoch / per_second
    row = Row("training", device, f"{steps} steps x {settings.batch_size} windows", seconds,
              f"{per_second:.0f} windows/s", hundred_epochs / TRAIN_SECONDS, hundred_epochs, peak_gpu(device))
    return row, result.model_dir


def bench_synthesis(device: str, model_dir: Path, seconds: float, folder: Path) -> Row:
    """synthesize() end to end (speech features, recurrent network, SMPL-X parameters), no preview video."""
    from bench_synth import speech
    from dr2model.synthesis import synthesize

    wav = speech(folder / "speech.wav", seconds, seed=7)
    synthesize(model_dir, wav, folder / "warm-up", device=device, preview=False)  # CUDA context, kernels
    reset_gpu(device)
    best = float("inf")
    for repeat in range(3):
        started = time.perf_counter()
        synthesize(model_dir, wav, folder / f"synth-{repeat}", device=device, preview=False)
        sync(device)
        best = min(best, time.perf_counter() - started)
    return Row("synthesis", device, f"{seconds:.0f} s of speech, best of 3", best, f"{seconds * FPS / best:.0f} frames/s",
               best / seconds, best * 60.0 / seconds, peak_gpu(device))


def bench_deepspeech(device: str, seconds: float, graph: Path) -> Row:
    """The DeepSpeech v0.1.0 port (MFCC front end + network) on speech-like audio, graph load excluded."""
    from dr2model.demo_input import speech_like_audio, syllable_onsets
    from dr2prep.audio.extractor import make_extractor
    from dr2prep.audio.mfcc import deepspeech_input
    from dr2common.rates import SAMPLE_RATE

    rng = np.random.default_rng(3)
    samples = speech_like_audio(syllable_onsets(rng, seconds), seconds, rng).astype(np.float32)
    extractor = make_extractor("deepspeech", graph, device)
    extractor.logits(deepspeech_input(samples[: SAMPLE_RATE]), show_progress=False)  # warm-up
    reset_gpu(device)
    started = time.perf_counter()
    logits = extractor.logits(deepspeech_input(samples), show_progress=False)
    sync(device)
    took = time.perf_counter() - started
    real = len(samples) / SAMPLE_RATE
    return Row("deepspeech", device, f"{real:.0f} s of speech, {len(logits)} steps", took,
               f"{len(logits) / took:.0f} steps/s", took / real, took / real, peak_gpu(device))


def run_cuda_tests() -> str:
    """pytest -m cuda: the tests that need a CUDA device (they skip themselves without one)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"], cwd=ROOT,
                            capture_output=True, text=True)
    tail = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr.strip()[-300:]
    if result.returncode not in (0, 5):
        print(result.stdout[-6000:], result.stderr[-2000:], sep="\n")
    return ("passed: " if result.returncode == 0 else "FAILED: ") + tail


def print_table(rows: list[Row]) -> None:
    print(f"\n{'benchmark':<11}{'device':<7}{'work':<40}{'seconds':>9}{'rate':>17}{'RTF':>9}{'peak GPU MiB':>13}  goal")
    for row in rows:
        name, op, target = GOALS[row.benchmark]
        goal = ""
        if row.device == "cuda" and row.goal_value is not None:
            met = row.goal_value >= target if op == ">=" else row.goal_value <= target
            goal = f"{name} {row.goal_value:.4g} {op} {target:g}: {'met' if met else 'MISSED'}"
        elif row.goal_value is not None:
            goal = f"({name} {row.goal_value:.4g}; goal {op} {target:g} is for a GPU)"
        peak = f"{row.peak_gpu_mib:.0f}" if row.peak_gpu_mib is not None else "-"
        rtf = f"{row.rtf:.4f}" if row.rtf is not None else "-"
        print(f"{row.benchmark:<11}{row.device:<7}{row.work:<40}{row.seconds:>9.2f}{row.rate:>17}{rtf:>9}{peak:>13}  {goal}")
    by_key = {(r.benchmark, r.device): r for r in rows}
    for benchmark in GOALS:
        cpu, cuda = by_key.get((benchmark, "cpu")), by_key.get((benchmark, "cuda"))
        if cpu and cuda and cpu.rtf and cuda.rtf:
            print(f"{benchmark}: CUDA {cpu.rtf / cuda.rtf:.1f}x faster than the CPU (real-time factors; the CPU row "
                  f"ran smaller work: rates compare, totals do not)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-tests", action="store_true", help="do not run the CUDA-marked tests")
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU rows, even where CUDA is present")
    args = parser.parse_args()
    set_quiet(True)
    cuda = torch.cuda.is_available() and not args.cpu_only
    started = time.perf_counter()
    print(f"torch {torch.__version__}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          + (f"CUDA: {torch.cuda.get_device_name(0)}" if cuda else
             "CUDA: none here" + (" (--cpu-only)" if args.cpu_only else "") + ": the CPU rows only, then exit 0"))
    if cuda and not args.skip_tests:
        print(f"CUDA-marked tests: {run_cuda_tests()}", flush=True)
    devices = ["cpu"] + (["cuda"] if cuda else [])
    rows: list[Row] = []
    from dr2prep.audio.deepspeech_graph import random_deepspeech_tensors, write_constants_graph

    with tempfile.TemporaryDirectory(prefix="dr2-gpu-check-") as tmp:
        folder = Path(tmp)
        graph = folder / "output_graph.pb"
        write_constants_graph(graph, random_deepspeech_tensors(n_hidden=2048, seed=0))
        for device in devices:
            sizes = GPU_SIZES if device == "cuda" else CPU_SIZES
            work = folder / device
            work.mkdir()
            for name, bench in (
                ("fit", lambda: bench_fit(device, sizes.fit_frames)),
                ("training", lambda: bench_training(device, sizes.train_steps, work)),
                ("synthesis", None),
                ("deepspeech", lambda: bench_deepspeech(device, sizes.speech_seconds, graph)),
            ):
                step_started = time.perf_counter()
                if name == "training":
                    row, model_dir = bench()
                elif name == "synthesis":
                    row = bench_synthesis(device, model_dir, 60.0, work)
                else:
                    row = bench()
                rows.append(row)
                print(f"  {name} on {device}: {time.perf_counter() - step_started:.0f} s", flush=True)
    print_table(rows)
    print(f"whole check: {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f}")
    if not cuda:
        print("no CUDA device: the GPU rows need a CUDA machine (`make gpu-check` there); exiting 0")


if __name__ == "__main__":
    main()
