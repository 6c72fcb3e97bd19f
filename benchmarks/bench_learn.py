"""Does the network learn audio-driven gestures? A synthetic speaker whose motion is a known function of the audio.

Run: python benchmarks/bench_learn.py [--train-seconds 120] [--steps 600] [--ablation] [--out DIR | --model DIR]
(600 steps of 16 windows: about 5 minutes on an idle 2-core CPU; --ablation doubles it.)

The synthetic speaker: speech-like audio (harmonic syllables at random
onsets, about 1.2 a second, 16 kHz) -> 29 log-mel features per frame at 30 FPS.
Motion: between two onsets both wrists run one loop through their beat point
and stop there (speed 0, a motion beat) exactly at each onset; the loop's size
follows the syllable's loudness. The posture (beat point, loop plane, the
other 53 pose values) is one of 4 and changes every 5–9 s independently of
the audio, so only the initial state can tell it. The face follows loudness.
The 59-dim pose state is this latent mixed by a fixed random rotation (like a
PCA code). Train on `--train-seconds`; test on unseen audio with each test
window's true first frame as the initial state.

Baselines, run in the same process: the training mean pose; nearest neighbour
(the training window with the closest audio features, as is and shifted to
start at the initial state); holding the initial state; that plus white noise
(shows that BC rewards jitter). BC is `dr2model.metrics.beat_consistency`
(EMAGE variant: σ = 0.3 s, argrelextrema order 7, joint speed) on the two
wrists, against librosa onsets of the test audio and against the placed
onsets; a σ = 0.1 s column is a stricter reading. `--ablation` also trains
without the unpaired branch and compares both on test windows started from
random training states (what recurrent synthesis feeds the network).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dr2model.checkpoint import load_model
from dr2model.dataset import ClipArrays
from dr2model.losses import LossWeights
from dr2model.metrics import audio_onsets, beat_consistency, mean_l1
from dr2model.network import WINDOW
from dr2model.train import TrainSettings, train_model
from dr2common.progress import set_quiet
from dr2common.rates import FPS, SAMPLE_RATE

SR = SAMPLE_RATE
POSE_DIM = 59
FACE_DIM = 10
POSTURES = 4
PAD_SECONDS = 2.0  # audio generated beyond both ends, so the first and last frames have onsets around them
STRICT_SIGMA = 0.1  # a second, stricter reading of BC: σ = 0.3 s rewards even random beats at speech rates


@dataclass
class Speaker:
    """The fixed, hidden parts of the synthetic speaker."""

    mixing: np.ndarray  # (59, 59) orthogonal: latent -> pose state
    rest: np.ndarray  # (POSTURES, 59) latent pose per posture; the first 6 values are the wrists' beat point
    loop_u: np.ndarray  # (POSTURES, 6) the plane of the wrists' loop, orthonormal with loop_v
    loop_v: np.ndarray
    face_gain: np.ndarray  # (10,)


def make_speaker(seed: int = 0) -> Speaker:
    rng = np.random.default_rng(seed)
    mixing, _ = np.linalg.qr(rng.standard_normal((POSE_DIM, POSE_DIM)))
    rest = rng.standard_normal((POSTURES, POSE_DIM))
    planes = [np.linalg.qr(rng.standard_normal((6, 2)))[0] for _ in range(POSTURES)]
    loop_u = np.stack([p[:, 0] for p in planes]) * 1.5
    loop_v = np.stack([p[:, 1] for p in planes]) * 1.5
    return Speaker(mixing, rest, loop_u, loop_v, rng.standard_normal(FACE_DIM))


def speech_like_audio(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Waveform (16 kHz) of [−PAD, seconds + PAD) s, syllable onsets (s, may be < 0) and loudness (0.3–1)."""
    n = int((seconds + 2 * PAD_SECONDS) * SR)
    wave = 0.003 * rng.standard_normal(n)
    onsets, gains = [], []
    t = rng.uniform(0.1, 0.5)
    while t < seconds + 2 * PAD_SECONDS - 0.4:
        gain = rng.uniform(0.3, 1.0)
        duration = rng.uniform(0.15, 0.3)
        f0 = rng.uniform(100, 220)
        samples = np.arange(int(duration * SR)) / SR
        attack, fade = np.minimum(samples / 0.005, 1.0), np.minimum(1.0, (duration - samples) / 0.03)
        envelope = attack * np.exp(-samples / 0.07) * fade
        burst = sum(np.sin(2 * np.pi * f0 * h * samples) / h for h in (1, 2, 3))
        start = int(t * SR)
        wave[start:start + len(samples)] += gain * 0.3 * envelope * burst
        onsets.append(t - PAD_SECONDS)
        gains.append(gain)
        t += 0.35 + rng.exponential(0.45)
    return wave.astype(np.float32), np.array(onsets), np.array(gains)


def crop(wave: np.ndarray, frames: int) -> np.ndarray:
    start = int(PAD_SECONDS * SR)
    return wave[start:start + frames * SR // FPS]


def audio_features(wave: np.ndarray, frames: int) -> np.ndarray:
    """29 log-mel bands per video frame (100 Hz STFT frames linearly resampled to 30 FPS): (frames, 29)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=wave, sr=SR, n_fft=512, hop_length=160, n_mels=29)
    log_mel = np.log(mel + 1e-6)
    times = np.arange(log_mel.shape[1]) * 160 / SR
    target = np.arange(frames) / FPS
    return np.stack([np.interp(target, times, band) for band in log_mel], axis=1).astype(np.float32)


def loop_phase(onsets: np.ndarray, gains: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: loop angle φ (one turn 0 -> 2π per syllable, speed ∝ sin, zero at onsets) and loop size."""
    t = np.arange(frames) / FPS
    k = np.searchsorted(onsets, t, side="right") - 1
    inside = (k >= 0) & (k < len(onsets) - 1)
    phase, size = np.zeros(frames), np.zeros(frames)
    kk = k[inside]
    s = (t[inside] - onsets[kk]) / (onsets[kk + 1] - onsets[kk])
    phase[inside] = np.pi * (1 - np.cos(np.pi * s))
    size[inside] = gains[kk]
    return phase, size


def loudness(wave: np.ndarray, frames: int) -> np.ndarray:
    hop = SR // FPS
    padded = np.pad(wave, (0, max(0, frames * hop - len(wave))))[: frames * hop]
    rms = np.sqrt(np.mean(padded.reshape(frames, hop) ** 2, axis=1))
    return rms / 0.1


def motion(speaker: Speaker, posture_weights: np.ndarray, phase: np.ndarray, size: np.ndarray, envelope: np.ndarray):
    """Latent -> pose state P (T, 59) and face F (T, 10). posture_weights: (T, POSTURES), rows sum to 1.

    The wrists run one loop per syllable through their beat point, where they
    stop (speed 0) exactly at each onset; the loop's size follows loudness.
    """
    latent = posture_weights @ speaker.rest
    u, v = posture_weights @ speaker.loop_u, posture_weights @ speaker.loop_v
    latent[:, :6] += size[:, None] * ((np.cos(phase) - 1)[:, None] * u + np.sin(phase)[:, None] * v)
    pose = latent @ speaker.mixing.T
    face = envelope[:, None] * speaker.face_gain[None, :]
    return pose.astype(np.float32), face.astype(np.float32)


def wrists(speaker: Speaker, pose: np.ndarray) -> np.ndarray:
    """Pose states (T, 59) -> the two wrists (T, 2, 3) of the latent."""
    return (pose @ speaker.mixing)[:, :6].reshape(-1, 2, 3)


def posture_track(frames: int, rng: np.random.Generator) -> np.ndarray:
    """One-hot posture per frame, switching every 5–9 s with a 0.5 s crossfade: (frames, POSTURES)."""
    weights = np.zeros((frames, POSTURES))
    current, t = rng.integers(POSTURES), 0
    while t < frames:
        length = int(rng.uniform(5, 9) * FPS)
        weights[t:t + length, current] = 1.0
        t += length
        current = (current + rng.integers(1, POSTURES)) % POSTURES
    fade = int(0.5 * FPS)
    kernel = np.ones(fade) / fade
    padded = np.pad(weights, ((fade, fade), (0, 0)), mode="edge")
    smooth = np.stack([np.convolve(padded[:, k], kernel, mode="same") for k in range(POSTURES)], axis=1)
    return smooth[fade:fade + frames]


@dataclass
class SyntheticClip:
    wave: np.ndarray  # the clip's audio (16 kHz)
    onsets: np.ndarray  # syllable onsets (s), including some just outside the clip
    gains: np.ndarray
    features: np.ndarray  # raw (T, 29)
    pose: np.ndarray
    face: np.ndarray
    postures: np.ndarray  # (T, POSTURES)


def synthetic_clip(speaker: Speaker, seconds: float, seed: int, postures: np.ndarray | None = None) -> SyntheticClip:
    rng = np.random.default_rng(seed)
    frames = int(seconds * FPS)
    padded_wave, onsets, gains = speech_like_audio(seconds, rng)
    wave = crop(padded_wave, frames)
    track = posture_track(frames, rng) if postures is None else postures
    phase, size = loop_phase(onsets, gains, frames)
    pose, face = motion(speaker, track, phase, size, loudness(wave, frames))
    return SyntheticClip(wave, onsets, gains, audio_features(wave, frames), pose, face, track)


def window_posture_track(frames: int, rng: np.random.Generator) -> np.ndarray:
    """Test clips: one posture per 128-frame window, so every window's truth is known for its posture."""
    track = np.zeros((frames, POSTURES))
    for start in range(0, frames, WINDOW):
        track[start:start + WINDOW, rng.integers(POSTURES)] = 1.0
    return track


def predict(model, audio: np.ndarray, initial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batch of windows: audio (N, 128, 29) normalised, initial (N, 59) -> pose (N, 128, 59), face."""
    with torch.no_grad():
        pose, face = model.network(torch.from_numpy(audio), torch.from_numpy(initial))
    return pose.numpy(), face.numpy()


def evaluate(name, pose_windows, face_windows, truth_pose, truth_face, speaker, onsets_per_window):
    """L1 on the pose state, on the wrists and on the face; BC of the wrists per window, onset-weighted."""
    l1_pose = mean_l1(pose_windows, truth_pose)
    l1_wrist = mean_l1(np.stack([wrists(speaker, p) for p in pose_windows]),
                       np.stack([wrists(speaker, p) for p in truth_pose]))
    l1_face = mean_l1(face_windows, truth_face) if face_windows is not None else float("nan")
    scores, weights = [], []
    for pose, onsets in zip(pose_windows, onsets_per_window):
        if len(onsets):
            scores.append(beat_consistency(onsets, wrists(speaker, pose), FPS))
            weights.append(len(onsets))
    bc = float(np.average(scores, weights=weights))
    strict = [beat_consistency(o, wrists(speaker, p), FPS, sigma=STRICT_SIGMA)
              for p, o in zip(pose_windows, onsets_per_window) if len(o)]
    bc_strict = float(np.average(strict, weights=weights))
    return {"method": name, "l1_pose": l1_pose, "l1_wrist": l1_wrist, "l1_face": l1_face, "bc": bc,
            "bc_strict": bc_strict}


def print_table(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    print(f"{'method':36s} {'L1 pose':>9s} {'L1 wrist':>9s} {'L1 face':>9s} {'BC':>7s} {'BC σ0.1':>8s}")
    for r in rows:
        print(f"{r['method']:36s} {r['l1_pose']:9.4f} {r['l1_wrist']:9.4f} {r['l1_face']:9.4f} {r['bc']:7.3f} "
              f"{r['bc_strict']:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-seconds", type=float, default=120.0, help="synthetic training audio (paper: ~2 min)")
    parser.add_argument("--test-seconds", type=float, default=60.0)
    parser.add_argument("--steps", type=int, default=600, help="training steps (batch 16)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ablation", action="store_true", help="also train without the unpaired branch")
    parser.add_argument("--out", type=Path, help="keep the trained model(s) here (default: a temporary folder)")
    parser.add_argument("--model", type=Path, help="evaluate this model folder (an earlier --out/model, same --seed and "
                        "--train-seconds) instead of training")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    set_quiet(False)

    speaker = make_speaker(args.seed)
    train = synthetic_clip(speaker, args.train_seconds, seed=args.seed + 1)
    test_frames = int(args.test_seconds * FPS) // WINDOW * WINDOW
    rng = np.random.default_rng(args.seed + 2)
    test = synthetic_clip(speaker, test_frames / FPS, seed=args.seed + 2,
                          postures=window_posture_track(test_frames, rng))

    mean, std = train.features.mean(0), np.maximum(train.features.std(0), 1e-4)
    norm = lambda f: ((f - mean) / std).astype(np.float32)  # noqa: E731
    clip = ClipArrays("synthetic", train.pose, train.face, norm(train.features), feature_kind="logmel29")

    settings = TrainSettings(batch_size=16, learning_rate=args.lr, window_stride=4, seed=args.seed,
                             max_steps=args.steps, epochs=10_000, checkpoint_every=10_000, log_every=25)
    windows_per_epoch = len(range(0, len(train.pose) - WINDOW + 1, 4))
    test_onsets = int(((test.onsets >= 0) & (test.onsets < test_frames / FPS)).sum())
    print(f"train: {args.train_seconds:.0f} s synthetic ({len(train.pose)} frames, "
          f"{windows_per_epoch} windows/epoch), test: {test_frames / FPS:.0f} s unseen audio ({test_onsets} onsets); "
          f"{args.steps} steps × 16 windows on {torch.get_num_threads()} CPU threads")

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        if args.model:
            model = load_model(args.model)
            history = [tuple(point) for point in model.config["loss_history"]]
            print(f"evaluating {args.model} (step {model.config['step']}); no training")
        else:
            started = time.perf_counter()
            result = train_model([clip], out / "model", settings, "cpu", force=True)
            train_seconds = time.perf_counter() - started
            model = load_model(out / "model")
            history = result.history
            print(f"training: {train_seconds:.0f} s, {result.windows_per_second:.1f} windows/s on CPU "
                  f"(each window runs both branches)")
        ablated = None
        if args.ablation:
            no_unpaired = replace(settings, loss=LossWeights(unpaired_start=0, unpaired_velocity=0, unpaired_face=0))
            train_model([clip], out / "ablated", no_unpaired, "cpu", force=True)
            ablated = load_model(out / "ablated")
    print("loss curve (step: mean total loss):", ", ".join(f"{s}: {loss:.3f}" for s, loss in history))

    # Test windows.
    starts = np.arange(0, test_frames, WINDOW)
    test_audio = np.stack([norm(test.features[s:s + WINDOW]) for s in starts])
    truth_pose = np.stack([test.pose[s:s + WINDOW] for s in starts])
    truth_face = np.stack([test.face[s:s + WINDOW] for s in starts])
    initial = truth_pose[:, 0].copy()
    inside = (test.onsets >= 0) & (test.onsets < test_frames / FPS)
    onsets = [test.onsets[(test.onsets >= s / FPS) & (test.onsets < (s + WINDOW) / FPS)] - s / FPS for s in starts]
    wave_onsets = audio_onsets(test.wave, SR)
    detected = [wave_onsets[(wave_onsets >= s / FPS) & (wave_onsets < (s + WINDOW) / FPS)] - s / FPS for s in starts]
    print(f"librosa found {len(wave_onsets)} onsets in the test audio ({int(inside.sum())} syllables placed)")

    # Baselines.
    nn_pose, nn_face = nearest_neighbour(train, norm(train.features), test_audio)
    nn_shifted = nn_pose - nn_pose[:, :1] + initial[:, None]
    mean_pose = np.broadcast_to(train.pose.mean(0), truth_pose.shape)
    mean_face = np.broadcast_to(train.face.mean(0), truth_face.shape)
    hold = np.broadcast_to(initial[:, None], truth_pose.shape)
    jitter = hold + 0.05 * np.random.default_rng(7).standard_normal(hold.shape).astype(np.float32)
    pred_pose, pred_face = predict(model, test_audio, initial)

    rows = [
        evaluate("ground truth (ceiling)", truth_pose, truth_face, truth_pose, truth_face, speaker, detected),
        evaluate("dr2 model", pred_pose, pred_face, truth_pose, truth_face, speaker, detected),
        evaluate("mean pose", mean_pose, mean_face, truth_pose, truth_face, speaker, detected),
        evaluate("nearest neighbour (audio)", nn_pose, nn_face, truth_pose, truth_face, speaker, detected),
        evaluate("nearest neighbour, shifted to P1", nn_shifted, nn_face, truth_pose, truth_face, speaker, detected),
        evaluate("hold initial state", hold, mean_face, truth_pose, truth_face, speaker, detected),
        evaluate("hold + white noise 0.05 (BC check)", jitter, mean_face, truth_pose, truth_face, speaker, detected),
    ]
    print_table(rows, "held-out audio, initial state = true first frame (BC on librosa onsets of the test audio)")
    rows_placed = [evaluate(r["method"], p, None, truth_pose, truth_face, speaker, onsets) for r, p in
                   zip(rows, [truth_pose, pred_pose, mean_pose, nn_pose, nn_shifted, hold, jitter])]
    print_table(rows_placed, "same, BC against the syllable onsets as placed (no detector error)")

    print_verdict(rows[1], rows[2:])

    if ablated is not None:
        compare_unpaired(model, ablated, speaker, test, test_audio, starts, train, detected)


def print_verdict(model: dict, baselines: list[dict]) -> None:
    """Per baseline and metric: is the model better (lower L1, higher BC)?"""
    print("\nmodel better than (yes/NO):")
    print(f"{'baseline':36s} {'L1 pose':>9s} {'L1 wrist':>9s} {'BC':>7s} {'BC σ0.1':>8s}")
    for r in baselines:
        marks = [model[k] < r[k] for k in ("l1_pose", "l1_wrist")] + [model[k] > r[k] for k in ("bc", "bc_strict")]
        cells = ["yes" if m else "NO" for m in marks]
        print(f"{r['method']:36s} {cells[0]:>9s} {cells[1]:>9s} {cells[2]:>7s} {cells[3]:>8s}")


def nearest_neighbour(train: SyntheticClip, train_audio: np.ndarray, test_audio: np.ndarray):
    """For each test window (N, 128, 29): pose and face of the training window with the closest audio (L2)."""
    starts = np.arange(0, len(train.pose) - WINDOW + 1)
    candidates = np.stack([train_audio[s:s + WINDOW].ravel() for s in starts])
    queries = test_audio.reshape(len(test_audio), -1)
    distances = (queries**2).sum(1)[:, None] - 2 * queries @ candidates.T + (candidates**2).sum(1)[None]
    nearest = starts[np.argmin(distances, axis=1)]
    return (np.stack([train.pose[s:s + WINDOW] for s in nearest]),
            np.stack([train.face[s:s + WINDOW] for s in nearest]))


def compare_unpaired(model, ablated, speaker, test, test_audio, starts, train, detected) -> None:
    """Windows started from random training states (any posture, any loop phase): continuity and posture.

    Truth: the posture of the chosen frame driven by the test audio; it is
    compared from each window's first onset on, where the loop restarts
    whatever phase the window began in.
    """
    rng = np.random.default_rng(123)
    picks = rng.integers(0, len(train.pose), len(starts))
    initial = train.pose[picks].astype(np.float32)
    posture = train.postures[picks].argmax(1)
    truths, first_onset = [], []
    for s, k in zip(starts, posture):
        weights = np.zeros((WINDOW, POSTURES))
        weights[:, k] = 1.0
        phase, size = loop_phase(test.onsets - s / FPS, test.gains, WINDOW)
        truths.append(motion(speaker, weights, phase, size, np.zeros(WINDOW))[0])
        later = test.onsets[test.onsets >= s / FPS]
        first_onset.append(min(WINDOW - 1, int(np.ceil((later[0] - s / FPS) * FPS))) if len(later) else WINDOW - 1)
    print("\nunpaired-branch ablation: test audio, initial state = a random training frame "
          "(truth: that frame's posture driven by the test audio, from the first onset on)")
    print(f"{'model':26s} {'start jump':>10s} {'L1 pose':>9s} {'L1 wrist':>9s} {'BC':>7s}")
    for name, m in (("with unpaired branch", model), ("paired branch only", ablated)):
        pose, _ = predict(m, test_audio, initial)
        jump = float(np.mean(np.abs(pose[:, 0] - initial)))
        l1_pose = float(np.mean([np.abs(p[f:] - t[f:]).mean() for p, t, f in zip(pose, truths, first_onset)]))
        l1_wrist = float(np.mean([np.abs(wrists(speaker, p[f:]) - wrists(speaker, t[f:])).mean()
                                  for p, t, f in zip(pose, truths, first_onset)]))
        bc = np.average([beat_consistency(o, wrists(speaker, p), FPS) for p, o in zip(pose, detected) if len(o)],
                        weights=[len(o) for o in detected if len(o)])
        print(f"{name:26s} {jump:10.4f} {l1_pose:9.4f} {l1_wrist:9.4f} {bc:7.3f}")


if __name__ == "__main__":
    main()
