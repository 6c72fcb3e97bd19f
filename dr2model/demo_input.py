"""The demo's own input: the open body gesturing to synthetic speech, rendered to an mp4.

Everything is generated here (no footage, no licensed model), so the demo can
run offline and ship. The gestures follow the audio: the forearms beat at
syllable onsets and the jaw opens with loudness, so there is something to learn.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import torch

from dr2model.render import render_mesh
from dr2prep.bodymodel import load_body_model
from dr2prep.ffmpeg_tools import write_video
from dr2prep.fitting.camera import FACING_CAMERA
from dr2prep.fitting.synthetic import gesture_poses
from dr2prep.media import FPS, SAMPLE_RATE
from dr2prep.progress import progress_bar

SIZE = (640, 480)  # width, height
FOCAL_LENGTH = 1000.0
TRANSL = (0.0, 0.27, 4.0)  # the body's place in camera space (metres)
LEFT_ELBOW_BEND, RIGHT_ELBOW_BEND = (17, 1), (18, 1)  # (body joint index, axis) bending the forearms forward


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


def audio_driven_motion(syllables, n_frames: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """SMPL-X parameters per frame: idle sway plus forearm beats at syllable onsets and a talking jaw."""
    body_pose = gesture_poses(rng, n_frames).reshape(n_frames, 21, 3)
    frames = np.arange(n_frames)
    beat = np.zeros(n_frames)
    jaw = np.zeros((n_frames, 3))
    for start, length in syllables:
        beat += np.exp(-0.5 * ((frames - start * FPS - 3) / 3.0) ** 2)
        inside = (frames >= start * FPS) & (frames < (start + length) * FPS)
        jaw[inside, 0] = 0.25 * np.sin(np.pi * (frames[inside] / FPS - start) / length)
    beat = np.clip(beat, 0, 1.5)
    body_pose[:, LEFT_ELBOW_BEND[0], LEFT_ELBOW_BEND[1]] -= 0.5 * beat
    body_pose[:, RIGHT_ELBOW_BEND[0], RIGHT_ELBOW_BEND[1]] += 0.5 * beat
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


def make_demo_video(path: Path, seconds: float = 8.0, seed: int = 0) -> Path:
    """Render the open body speaking for `seconds` to `path` (h264 + AAC); kept if it exists."""
    path = Path(path)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    syllables = syllable_onsets(rng, seconds)
    n_frames = int(round(seconds * FPS))
    motion = audio_driven_motion(syllables, n_frames, rng)
    wav = path.with_suffix(".wav")
    write_wav(wav, speech_like_audio(syllables, seconds, rng))

    body = load_body_model("open")
    faces = body.arrays().render_faces
    layer = body.smplx_layer(batch_size=n_frames)
    with torch.no_grad():
        vertices = layer(**{k: torch.as_tensor(v, dtype=torch.float32) for k, v in motion.items()}).vertices.numpy()

    frames = (render_mesh(v, faces, SIZE, FOCAL_LENGTH) for v in progress_bar(vertices, desc="demo video", unit="frame"))
    write_video(frames, path, FPS, wav)
    wav.unlink()
    return path
