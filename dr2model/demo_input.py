"""The demo's own input: the open body, dressed and given a face, gesturing to synthetic speech, rendered to an mp4.

Everything is generated here (no footage, no licensed model), so the demo can
run offline and ship. The gestures follow the audio: the hands beat at
syllable onsets and the jaw opens with loudness, so there is something to learn.
The true poses are saved beside the video, so the fit can be measured against them.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import torch

from dr2model.demo_figure import dress, render_figure
from dr2prep.bodymodel.loading import load_body_model
from dr2prep.bodymodel.skeleton import FIRST_STATIC_LANDMARK, NUM_STATIC_LANDMARKS
from dr2common.ffmpeg_tools import write_video
from dr2prep.fitting.camera import FACING_CAMERA
from dr2common.rates import FPS, SAMPLE_RATE
from dr2common.progress import progress_bar

DEMO_INPUT_VERSION = 2  # 1: the wooden mannequin; 2: a dressed figure with a face, arms clear of the torso
SIZE = (640, 480)  # width, height
FOCAL_LENGTH = 1000.0
TRANSL = (0.0, 0.55, 2.6)  # the body's place in camera space (metres): framed from the head to the thighs
PHRASE_SECONDS = 2.5  # a gesture phrase lasts at least this long (its start tells which hand leads) ...
WORD_GAP = 0.07  # ... and ends between words (syllable_onsets leaves 0.02-0.06 s inside words, 0.08+ between)
# body_pose rows (SMPL-X joint index - 1)
SPINE = (2, 5, 8)
NECK, HEAD = 11, 14
LEFT_SHOULDER, RIGHT_SHOULDER = 15, 16
LEFT_ELBOW, RIGHT_ELBOW = 17, 18
LEFT_WRIST, RIGHT_WRIST = 19, 20


def syllable_onsets(rng: np.random.Generator, seconds: float) -> list[tuple[float, float]]:
    """(start, length) of syllables: words of 1-4 syllables with short gaps and a few pauses."""
    syllables, t = [], 0.3
    while t < seconds - 0.4:
        for _ in range(rng.integers(1, 5)):
            length = rng.uniform(0.12, 0.26)
            syllables.append((t, length))
            t += length + rng.uniform(0.02, 0.06)
        t += rng.uniform(0.08, 0.2) if rng.random() > 0.2 else rng.uniform(0.5, 0.8)
    return [s for s in syllables if s[0] + s[1] < seconds]


def speech_like_audio(syllables, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """(N,) float32 at 16 kHz: a voiced buzz with moving formants, shaped into syllables."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = 140 + 25 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    formant = 1 + 0.6 * np.sin(2 * np.pi * (600 + 400 * np.sin(2 * np.pi * 3 * t)) * t)
    envelope = np.zeros_like(t)
    for start, length in syllables:
        inside = slice(int(np.ceil(start * SAMPLE_RATE)), int(np.ceil((start + length) * SAMPLE_RATE)))
        envelope[inside] = np.sin(np.pi * (t[inside] - start) / length) * rng.uniform(0.6, 1.0)
    audio = 0.25 * voice * formant * envelope + 0.002 * rng.standard_normal(len(t))
    return audio.astype(np.float32)


def _smooth(rng: np.random.Generator, n_frames: int, low_hz: float = 0.15, high_hz: float = 0.6) -> np.ndarray:
    """(T,) a slow wander in [-1, 1]: three sinusoids of random frequency and phase."""
    t = np.arange(n_frames) / FPS
    return sum(np.sin(2 * np.pi * rng.uniform(low_hz, high_hz) * t + rng.uniform(0, 2 * np.pi)) for _ in range(3)) / 3


def _phrase_leads(syllables, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(T, 2) how much each hand (left, right) leads: per phrase one hand, the other or both, taking turns.

    A phrase ends at a gap between words once it has lasted PHRASE_SECONDS.
    """
    choices = np.array([(1.0, 0.3), (0.3, 1.0), (0.8, 0.8)])[rng.permutation(3)]
    leads = np.zeros((n_frames, 2))
    phrase, phrase_start, last_end = 0, 0, 0.0
    for start, length in syllables + [(n_frames / FPS + 1.0, 0.0)]:
        if start - last_end > WORD_GAP and start - phrase_start / FPS > PHRASE_SECONDS:
            leads[phrase_start:int(start * FPS)] = choices[phrase % len(choices)]
            phrase, phrase_start = phrase + 1, int(start * FPS)
        last_end = start + length
    kernel = np.hanning(15)
    kernel /= kernel.sum()
    return np.stack([np.convolve(np.pad(leads[:, k], 7, mode="edge"), kernel, "valid") for k in range(2)], axis=1)


def arm_pose(body_pose: np.ndarray, lift: np.ndarray, outward: np.ndarray, side: str) -> None:
    """Set one arm of (T, 21, 3) body poses: `lift` 0..1 raises the upper arm and bends the elbow forward,
    `outward` (radians) turns the forearm out to the side, so the hand moves clear of the torso."""
    shoulder, elbow, sign = (LEFT_SHOULDER, LEFT_ELBOW, 1.0) if side == "left" else (RIGHT_SHOULDER, RIGHT_ELBOW, -1.0)
    body_pose[:, shoulder, 2] = -sign * (1.25 - 0.55 * lift)  # down at the side .. half raised
    body_pose[:, shoulder, 1] = -sign * (0.15 + 0.25 * lift)  # a little forward
    body_pose[:, shoulder, 0] = -outward
    body_pose[:, elbow, 1] = -sign * (0.5 + 1.2 * lift)  # bent forward


def audio_driven_motion(syllables, n_frames: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """SMPL-X parameters per frame of an upright speaker facing the camera.

    Per phrase one hand leads (or both); each syllable onset lifts the
    leading hands in a beat and turns them outward, the head nods a little
    with the beats and drifts, and the jaw opens with each syllable.
    """
    frames = np.arange(n_frames)
    beat = np.zeros(n_frames)
    jaw = np.zeros((n_frames, 3))
    for start, length in syllables:
        beat += np.exp(-0.5 * ((frames - start * FPS - 3) / 3.0) ** 2)
        inside = (frames >= start * FPS) & (frames < (start + length) * FPS)
        jaw[inside, 0] = 0.25 * np.sin(np.pi * (frames[inside] / FPS - start) / length)
    beat = np.clip(beat, 0, 1.2)
    leads = _phrase_leads(syllables, n_frames, rng)
    body_pose = np.zeros((n_frames, 21, 3))
    for k, side in enumerate(("left", "right")):
        lift = np.clip(leads[:, k] * (0.45 + 0.2 * _smooth(rng, n_frames) + 0.3 * beat), 0.05, 1.0)
        outward = 0.4 + 0.35 * _smooth(rng, n_frames) + 0.25 * leads[:, k] * beat
        arm_pose(body_pose, lift, outward, side)
        body_pose[:, LEFT_WRIST if side == "left" else RIGHT_WRIST] = 0.2 * np.stack(
            [_smooth(rng, n_frames, 0.3, 1.0) for _ in range(3)], axis=1)
    for spine in SPINE:
        body_pose[:, spine] = 0.03 * np.stack([_smooth(rng, n_frames) for _ in range(3)], axis=1)
    body_pose[:, HEAD, 0] = 0.06 * _smooth(rng, n_frames) + 0.05 * beat  # nods with the beats
    body_pose[:, HEAD, 1] = 0.15 * _smooth(rng, n_frames)  # looks a little left and right
    body_pose[:, NECK, 2] = 0.05 * _smooth(rng, n_frames)
    return {
        "global_orient": np.tile(FACING_CAMERA, (n_frames, 1)),
        "body_pose": body_pose.reshape(n_frames, 63),
        "jaw_pose": jaw,
        "transl": np.tile(TRANSL, (n_frames, 1)),
    }


def write_wav(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def make_demo_speech(path: Path, seconds: float = 10.0, seed: int = 1) -> Path:
    """New speech-like audio for synthesis (a different seed from the video's: speech the model never heard)."""
    path = Path(path)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    write_wav(path, speech_like_audio(syllable_onsets(rng, seconds), seconds, rng))
    return path


def demo_poses_path(video: Path) -> Path:
    """Where the true SMPL-X parameters of the demo video are kept (beside it)."""
    return Path(video).with_name(Path(video).stem + "_poses.npz")


def _is_current(video: Path) -> bool:
    poses = demo_poses_path(video)
    if not (video.is_file() and poses.is_file()):
        return False
    with np.load(poses) as saved:
        return "version" in saved.files and int(saved["version"]) == DEMO_INPUT_VERSION


def make_demo_video(path: Path, seconds: float = 8.0, seed: int = 0) -> Path:
    """Render the dressed open body speaking for `seconds` to `path` (h264 + AAC) and its true poses beside it.

    Kept if both exist and were made by this version of the demo input.
    """
    path = Path(path)
    if _is_current(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    syllables = syllable_onsets(rng, seconds)
    n_frames = int(round(seconds * FPS))
    motion = audio_driven_motion(syllables, n_frames, rng)
    wav = path.with_suffix(".wav")
    write_wav(wav, speech_like_audio(syllables, seconds, rng))

    body = load_body_model("open")
    figure = dress(body)
    layer = body.smplx_layer(batch_size=n_frames)
    with torch.no_grad():
        output = layer(**{k: torch.as_tensor(v, dtype=torch.float32) for k, v in motion.items()})
    vertices, joints = output.vertices.numpy(), output.joints.numpy()
    face_points = joints[:, FIRST_STATIC_LANDMARK:FIRST_STATIC_LANDMARK + NUM_STATIC_LANDMARKS]

    frames = (render_figure(figure, v, f, SIZE, FOCAL_LENGTH)
              for v, f in zip(progress_bar(vertices, desc="demo video", unit="frame"), face_points))
    write_video(frames, path, FPS, wav)
    wav.unlink()
    np.savez(demo_poses_path(path), version=DEMO_INPUT_VERSION, focal_length=FOCAL_LENGTH,
             image_size=np.asarray(SIZE), **{k: v.astype(np.float32) for k, v in motion.items()})
    return path
