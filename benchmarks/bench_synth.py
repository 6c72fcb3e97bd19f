"""Synthesis speed on CPU: seconds to synthesise 60 s of speech (parameters only; goal <= 1 s), memory for long
speech, and preview rendering frames/s.

The model is the real network (Tables 1-3) with weights from a one-step training run on synthetic clips: speed
does not depend on what the weights learned. Speech is generated speech-like audio (dr2model.demo_input).
Baseline for the ratio: every window's audio encoded and decoded in one batch from fixed initial states (no
recurrence), the fastest the network can turn the same frames out.

    .venv/bin/python benchmarks/bench_synth.py [--seconds 60] [--long-minutes 60] [--preview-seconds 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dr2model.checkpoint import load_model  # noqa: E402
from dr2model.codecs import fit_codecs  # noqa: E402
from dr2model.dataset import clip_arrays_from_params  # noqa: E402
from dr2model.demo_input import speech_like_audio, syllable_onsets, write_wav  # noqa: E402
from dr2model.network import WINDOW  # noqa: E402
from dr2model.synthesis import (  # noqa: E402
    LOW_PASS_HZ,
    generate_states,
    initial_states,
    smplx_params,
    speech_features,
    synthesize,
    window_starts,
)
from dr2model.train import TrainSettings, train_model  # noqa: E402
from dr2prep.audio.extractor import frame_features, make_extractor  # noqa: E402
from dr2prep.audio.reading import load_audio  # noqa: E402
from dr2common.low_pass import low_pass  # noqa: E402
from dr2common.progress import set_quiet  # noqa: E402
from dr2common.rates import FPS


def speech(path: Path, seconds: float, seed: int) -> Path:
    """Speech-like audio; beyond a minute, a generated minute repeated (keeps this process small)."""
    rng = np.random.default_rng(seed)
    piece = min(seconds, 60.0)
    audio = speech_like_audio(syllable_onsets(rng, piece), piece, rng)
    write_wav(path, np.resize(audio, int(round(seconds * len(audio) / piece))))
    return path


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the forking parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def smooth_params(frames: int, seed: int) -> dict[str, np.ndarray]:
    """Smooth SMPL-X parameters of a seated speaker facing the camera (random low-rank gestures)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / FPS

    def wave(dim: int, scale: float) -> np.ndarray:
        return scale * np.sin(2 * np.pi * rng.uniform(0.2, 1.5, dim) * t + rng.uniform(0, 6.3, dim))

    return {
        "betas": np.zeros(10, np.float32),
        "global_orient": np.tile([np.pi, 0.0, 0.0], (frames, 1)),
        "transl": np.array([0.0, 0.3, 3.0]) + wave(3, 0.01),
        "body_pose": wave(63, 0.15),
        "jaw_pose": np.abs(wave(3, 0.05)),
        "left_hand_pose": wave(45, 0.1),
        "right_hand_pose": wave(45, 0.1),
        "expression": wave(10, 0.5),
    }


def synthetic_clips(folder: Path, seconds_per_clip: float):
    """Two synthetic clips (speech-like audio, smooth poses) and their codecs, as `dr2 train` would see them."""
    extractor = make_extractor("builtin")
    frames = int(seconds_per_clip * FPS)
    params_list, features_list = [], []
    for seed in (1, 2):
        wav = speech(folder / f"clip{seed}.wav", seconds_per_clip, seed)
        params_list.append(smooth_params(frames, seed))
        features_list.append(frame_features(extractor, load_audio(wav), frames, FPS))
    codecs = fit_codecs(params_list, features_list)
    clips = []
    for seed, params, features in zip((1, 2), params_list, features_list):
        arrays = clip_arrays_from_params(params, features, codecs, f"clip{seed}")
        arrays.feature_kind = "builtin"
        clips.append(arrays)
    codecs.clips = [c.identity for c in clips]
    return clips, codecs


def build_model(root: Path) -> Path:
    """A model directory that decodes to SMPL-X: codecs fitted on two synthetic clips, one training step."""
    clips, codecs = synthetic_clips(root, 10.0)
    train_model(clips, root / "model", TrainSettings(batch_size=2, max_steps=1, checkpoint_every=1000), codecs=codecs)
    return root / "model"


def timed(fn, repeats: int = 3):
    """(best seconds of `repeats` runs, last result)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def synthesis_figures(model_dir: Path, wav: Path, threads: int) -> list[tuple[str, float]]:
    torch.set_num_threads(threads)
    model = load_model(model_dir)
    features_s, (features, frames) = timed(lambda: speech_features(model, wav))
    states, _, _ = initial_states(model, 1, 0, None)
    network_s, (pose, face) = timed(lambda: generate_states(model.network, features, states))
    identity = model.codecs.clips[0]
    low_pass_s, _ = timed(lambda: low_pass(pose[0], [(0, len(pose[0]))], FPS, LOW_PASS_HZ))
    decode_s, _ = timed(lambda: smplx_params(model, pose[0, :frames], face[0, :frames], identity))
    starts = window_starts(len(features))

    def batched():
        with torch.no_grad():
            audio = torch.from_numpy(np.stack([features[s:s + WINDOW] for s in starts]))
            return model.network(audio, torch.from_numpy(states).expand(len(starts), -1))

    baseline_s, _ = timed(batched)
    with tempfile.TemporaryDirectory() as out:
        end_to_end_s, _ = timed(lambda: synthesize(model_dir, wav, Path(out), preview=False))
    return [("audio features (builtin)", features_s), ("recurrent network, 1 sample", network_s),
            ("low-pass of the output (1 sample)", low_pass_s), ("decode to SMPL-X params", decode_s),
            ("synthesize() end to end, no preview", end_to_end_s),
            ("baseline: all windows in one batch", baseline_s), ("windows", float(len(starts)))]


def measure_long(model_dir: Path, wav: Path) -> None:
    """Child process: synthesise one long file (params only); print seconds and peak RSS as JSON."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        outputs = synthesize(model_dir, wav, Path(out), preview=False)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rss_mib": peak_rss_mib(), "frames": outputs[0].frames}))


def preview_figures(model_dir: Path, wav: Path) -> list[tuple[str, float, float]]:
    """(renderer, seconds per frame of drawing only, frames/s of the whole preview with posing and encoding),
    both with the default look (the dressed person; benchmarks/bench_preview_look.py compares the looks)."""
    from dr2model.preview import PREVIEW_SIZE, choose_camera, framed_vertices, look_figure, make_renderer, posed_frames
    from dr2model.synthesis import load_sample
    from dr2prep.bodymodel.loading import load_body_model

    body = load_body_model("open")
    faces = body.arrays().render_faces
    rows = []
    with tempfile.TemporaryDirectory() as out:
        outputs = synthesize(model_dir, wav, Path(out), preview=False)
        params = load_sample(outputs[0].params_path)
        drawn = min(32, outputs[0].frames)  # frames timed for drawing alone (a short --preview-seconds has fewer)
        layer = body.smplx_layer(batch_size=drawn)
        camera = choose_camera(layer, [params], framed_vertices(body), PREVIEW_SIZE)
        vertices, face_points = posed_frames(layer, params, 0, drawn)
        for kind in ("builtin", "pyrender"):
            try:
                draw = make_renderer(kind, PREVIEW_SIZE, look_figure(body, "person"))
            except Exception as error:  # pyrender absent or no offscreen GL
                rows.append((f"{kind} (unavailable: {str(error)[:40]})", float("nan"), float("nan")))
                continue
            name = kind if kind == "builtin" else f"pyrender ({draw.gl_renderer().split(' (')[0]})"
            per_frame, _ = timed(lambda: [draw(v, faces, camera, f) for v, f in zip(vertices, face_points)], repeats=2)
            if hasattr(draw, "close"):
                draw.close()  # one offscreen GL context at a time: pyrender's EGL teardown ends the display
            started = time.perf_counter()
            synthesize(model_dir, wav, Path(out), preview=True, renderer=kind)
            whole = time.perf_counter() - started
            rows.append((name, per_frame / len(vertices), outputs[0].frames / whole))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="speech length for the speed figures")
    parser.add_argument("--long-minutes", type=float, default=60.0, help="speech length for the memory figure")
    parser.add_argument("--preview-seconds", type=float, default=5.0, help="speech length for the preview figures")
    parser.add_argument("--measure-long", nargs=2, metavar=("MODEL", "WAV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    set_quiet(True)
    if args.measure_long:
        measure_long(Path(args.measure_long[0]), Path(args.measure_long[1]))
        return
    default_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_model(tmp)
        wav = speech(tmp / "speech.wav", args.seconds, 7)
        print(f"synthesis of {args.seconds:.0f} s of speech ({round(args.seconds * FPS)} frames) on CPU, best of 3")
        thread_counts = sorted({1, default_threads})
        results = {threads: dict(synthesis_figures(model_dir, wav, threads)) for threads in thread_counts}
        print(f"{'what':<40}" + "".join(f"{f'{t} thread(s) s':>16}" for t in results))
        for name in next(iter(results.values())):
            cells = "".join(f"{r[name]:>16.0f}" if name == "windows" else f"{r[name]:>16.3f}" for r in results.values())
            print(f"{name:<40}{cells}")
        for threads, r in results.items():
            print(f"{threads} thread(s): recurrent / batched baseline = "
                  f"{r['recurrent network, 1 sample'] / r['baseline: all windows in one batch']:.2f}; "
                  f"end to end {r['synthesize() end to end, no preview']:.3f} s for {args.seconds:.0f} s of speech "
                  f"(goal <= 1 s per 60 s)")

        long_wav = speech(tmp / "long.wav", args.long_minutes * 60, 8)
        child = subprocess.run([sys.executable, __file__, "--measure-long", str(model_dir), str(long_wav)],
                               capture_output=True, text=True, check=True)
        long = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"\n{args.long_minutes:g} min of speech ({long['frames']} frames), params only, 1 thread, fresh process: "
              f"{long['seconds']:.1f} s, peak RSS {long['rss_mib']:.0f} MiB")

        torch.set_num_threads(default_threads)
        preview_wav = speech(tmp / "preview.wav", args.preview_seconds, 9)
        print(f"\npreview, 480x480, {args.preview_seconds:g} s ({round(args.preview_seconds * FPS)} frames), "
              f"{default_threads} thread(s)")
        print(f"{'renderer':<40}{'draw ms/frame':>14}{'preview frames/s':>18}")
        for name, per_frame, fps in preview_figures(model_dir, preview_wav):
            print(f"{name:<40}{per_frame * 1000:>14.1f}{fps:>18.1f}")
        print("preview frames/s counts posing (smplx), drawing and h264 encoding with the audio")


if __name__ == "__main__":
    main()
