"""`dr2 synth`: recurrent synthesis of SMPL-X gestures for speech of any length (DESIGN §4.9).

128-frame windows start every 128 − OVERLAP frames, each from the pose already
generated at its first frame, joined by Eq. 2's smoothing (k = 10) and a
cross-fade of the shared frames; the last window is aligned to the end of the
audio. `overlap=1` is the authors' release (stride 127, Eq. 2 alone). The result is low-passed at the fits'
gesture band (LOW_PASS_HZ; 0 is the release). Audio is encoded in batches of
windows and states are decoded one window after another, so memory stays small
for an hour of speech.
"""

from __future__ import annotations

import math
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dr2model.checkpoint import LoadedModel, load_model
from dr2model.codecs import ClipIdentity
from dr2model.network import WINDOW, Audio2Gestures
from dr2model.noise import DEFAULT_SIGMA, ramp_weights
from dr2prep.audio.alignment import frames_for_duration
from dr2prep.audio.extractor import (
    FEATURE_KINDS,
    check_feature_kind,
    check_speech,
    feature_info,
    frame_features,
    make_extractor,
)
from dr2prep.audio.reading import load_audio
from dr2common.errors import Dr2Error
from dr2prep.fitting.params_file import read_npz
from dr2common.progress import progress_bar, say
from dr2common.atomic import savez_atomic, write_json_atomic
from dr2common.low_pass import GESTURE_BAND_HZ, cutoff_problem, low_pass
from dr2common.rates import FPS, SAMPLE_RATE
from dr2common.smplx_params import NUM_BETAS, SMPLX_KEYS

STRIDE = WINDOW - 1  # the release's stride: windows share one frame, the new window's start is the old one's end
SMOOTHING_RANGE = 10  # k of Eq. 2 (frames)
# Frames consecutive windows share, cross-faded (1: the release's stride 127, joined by Eq. 2 alone). On the
# held-out benchmark (benchmarks/bench_speaker.py, speaker_tips_46s at 34 s) 32 kept seams at 0.99x a normal
# step, raised diversity between samples from 17.6 to 24.6 mm and lowered jerk from 36.8 to 34.2 m/s^3.
OVERLAP = 32
STATE_NOISE = 0.0  # σ of Eq. 1 noise on each window's initial state as the network sees it (0: the release)
# Share of the way each window's initial state is pulled back towards the sample's first state (a training frame).
# Decoders relative to the initial state (NetworkConfig.relative_pose) keep a sample's posture, and with it the
# small bias of every window's motion on unheard speech: unpulled, the posture drifts off the speaker's range
# over a minute. 0: the release (the next window starts exactly where the last one ended).
ANCHOR = 0.5  # on a minute of speech (speaker_tips_46s): drift off the training states bounded, samples apart
# The generated motion is kept to the band of the fits it was learnt from (dr2common.low_pass: the fit stage
# low-passes them at the same frequency), so what the network adds above it is error, not gesture. On the held-out
# benchmark (both clips, three training seeds) it lowered jerk from 37.3-37.8 to 30.8-31.0 m/s^3 (speaker_tips_46s;
# its held-out fit: 36.6) and from 53-56 to 40-43 (seated_speaker_20s; 59.5), and moved the velocity distance and
# wrist speed by at most 0.04x.
LOW_PASS_HZ = GESTURE_BAND_HZ  # 0: the release (no filter)
PAPER_SYNTH_OPTIONS = {"overlap": 1, "state_noise": 0.0, "anchor": 0.0, "low_pass_hz": 0.0}  # the release's
# synthesis where ours differs
ENCODE_BATCH = 32  # windows whose audio goes through the audio encoder together
FEATURE_CHUNK_FRAMES = 5 * 60 * FPS  # longer speech has its features computed in chunks of this many frames
# (a multiple of 3 frames, so chunk starts fall on 0.1 s boundaries); one chunk of the built-in extractor
# peaks near 0.7 GB, the whole of an hour near 8 GB
FEATURE_MARGIN_FRAMES = 63  # 2.1 s of context on each side of a chunk (multiple of 3 frames)
# smplx.SMPLX options under which the written parameters mean what they say.
SMPLX_OPTIONS = {"use_pca": False, "flat_hand_mean": False, "num_betas": NUM_BETAS, "num_expression_coeffs": 10}


@dataclass(frozen=True)
class SampleOutput:
    """One synthesised sequence: its files and how it was started."""

    params_path: Path  # *.npz, keys SMPLX_KEYS, every array (T, ·)
    info_path: Path  # *.json beside it: frames, fps, seed, initial frame, model, smplx options
    preview_path: Path | None  # *.mp4 with the audio (the grid video when grid=True), None without preview
    seed: int
    init_frame: int
    frames: int


@dataclass
class Synthesis:
    """Generated pose states and faces of N samples (before decoding to SMPL-X)."""

    pose: np.ndarray  # (N, T, D) pose states P
    face: np.ndarray  # (N, T, 10) expression F
    init_frames: np.ndarray  # (N,) state-bank frame each sample started from
    seeds: np.ndarray  # (N,)


# --- windows and the recurrent loop ---------------------------------------------------------------------------

def window_starts(frames: int, window: int = WINDOW, stride: int = STRIDE) -> np.ndarray:
    """Start frames of the windows covering `frames` (≥ window): every `stride`, the last aligned to the end."""
    if frames < window:
        raise ValueError(f"{frames} frames are fewer than one window ({window}); pad the audio first")
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return np.asarray(starts)


def join_offset(shared: int, overlap: int) -> int:
    """Frame of a window (from its start) where it takes over from the frames already generated: its first
    frame when it shares `overlap` of them, and for the end-aligned last window, which may share up to 127, the
    frame `overlap` before their end, so that it too is cross-faded over `overlap` frames and no more (two
    gestures averaged over most of a window would be one smaller gesture)."""
    return max(shared - overlap, 0)


def seam_frames(frames: int, overlap: int = OVERLAP) -> list[tuple[int, int]]:
    """Where windows join, as (first, last) frames (inclusive) of each join after the first window: the
    cross-faded frames and the first frame that only the new window gives (a pop would show there)."""
    starts = window_starts(frames, WINDOW, WINDOW - overlap)
    done, seams = WINDOW, []
    for start in starts[1:]:
        seams.append((int(start) + join_offset(done - int(start), overlap) + 1, done))
        done = int(start) + WINDOW
    return seams


def crossfade_weights(length: int, device=None) -> torch.Tensor:
    """(length,) weights of the new window over `length` shared frames: a half cosine rising from 0 to 1
    (both ends excluded), so position and velocity change gradually from the old window to the new."""
    t = torch.arange(1, length + 1, device=device, dtype=torch.float32) / (length + 1)
    return 0.5 - 0.5 * torch.cos(torch.pi * t)


def generate_states(
    network: Audio2Gestures,
    audio: np.ndarray,
    initial: np.ndarray,
    smoothing: int = SMOOTHING_RANGE,
    device: str = "cpu",
    encode_batch: int = ENCODE_BATCH,
    overlap: int = 1,
    state_noise: float = 0.0,
    seeds=None,
    anchor: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Recurrent generation: audio (T ≥ 128, 29), initial states (N, D) -> pose (N, T, D), face (N, T, 10).

    `audio` is normalised with the model's codecs.

    Windows start every 128 − `overlap` frames (the last one aligned to the
    end); window w starts at frame s from the pose already generated there.
    Eq. 2 adds max(0, 1 − t/k)·ε with ε = P̂(s) − P̂_w(s), so the new window
    begins exactly where the sequence stands and the offset fades out over k
    frames (`smoothing = 0` turns it off); without cross-fade the join is the
    last frame already generated. With `overlap` > 1 the frames
    the two windows share after s are cross-faded (crossfade_weights) instead
    of being cut, so velocity carries over too; `overlap = 1` is the release's
    stride 127, where only frame s is shared. The end-aligned last window,
    which may share more, takes over `overlap` frames before the end of what
    is generated (join_offset). `state_noise` σ > 0 adds Eq. 1's
    ξ ~ N(0, σ) to each window's initial state as the network sees it (not to
    the sequence), drawn per sample from `seeds` (N,) (default 0..N−1), so a
    sample does not depend on how many are drawn with it. All N samples share
    each window's audio encoding. `anchor` a in [0, 1] starts each window after the first from
    P̂(s) + a·(P_first − P̂(s)) instead of P̂(s) (Eq. 2 still joins it to P̂(s)): a sample keeps to
    the neighbourhood of the training posture it started from.
    """
    if not 1 <= overlap < WINDOW:
        raise ValueError(f"overlap must be 1..{WINDOW - 1} frames, got {overlap}")
    if not 0.0 <= anchor <= 1.0:
        raise ValueError(f"anchor must be in [0, 1], got {anchor}")
    frames = len(audio)
    starts = window_starts(frames, WINDOW, WINDOW - overlap)
    count = len(initial)
    state = torch.as_tensor(np.asarray(initial, np.float32), device=device)
    first_state = state.clone()
    pose_out = np.empty((count, frames, state.shape[1]), np.float32)
    face_out = np.empty((count, frames, network.config.face_dim), np.float32)
    ramp = ramp_weights(WINDOW, max(smoothing, 1), device=device)[None, :, None] if smoothing > 0 else None
    generators = None
    if state_noise > 0:
        seeds = range(count) if seeds is None else seeds
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    done = 0  # frames generated so far
    bar = progress_bar(total=len(starts), desc="synth", unit="window")
    with torch.no_grad():
        for first in range(0, len(starts), encode_batch):
            batch_starts = starts[first:first + encode_batch]
            windows = np.stack([audio[s:s + WINDOW] for s in batch_starts])
            encoded = network.audio_encoder(torch.from_numpy(windows).to(device))  # (B, 256, 128)
            for i, start in enumerate(batch_starts):
                seen = state
                if generators is not None:
                    noise = torch.stack([torch.randn(state.shape[1], generator=g) for g in generators])
                    seen = state + state_noise * noise.to(device)
                pose, face = network.generate(encoded[i:i + 1].expand(count, -1, -1), seen)  # (N, 128, D), (N, 128, 10)
                shared = done - start  # frames of this window already generated (0 for the first window)
                # Eq. 2 at the join: the window's first shared frame when cross-fading, else its last one
                # (the end-aligned last window joins `overlap` frames before the end of what is generated).
                join = join_offset(shared, overlap)
                if shared > 0 and ramp is not None:
                    epsilon = torch.from_numpy(pose_out[:, start + join]).to(device) - pose[:, join]
                    shifted = torch.zeros_like(pose)
                    shifted[:, join:] = ramp[:, :WINDOW - join] * epsilon[:, None]
                    pose = pose + shifted
                pose, face = pose.float().cpu().numpy(), face.float().cpu().numpy()
                if shared > 1 and overlap > 1:
                    weight = crossfade_weights(shared - join - 1).numpy()[None, :, None]
                    blend = slice(start + join + 1, done)
                    pose_out[:, blend] = (1 - weight) * pose_out[:, blend] + weight * pose[:, join + 1:shared]
                    face_out[:, blend] = (1 - weight) * face_out[:, blend] + weight * face[:, join + 1:shared]
                keep = slice(max(shared, 0), WINDOW)
                pose_out[:, done:start + WINDOW] = pose[:, keep]
                face_out[:, done:start + WINDOW] = face[:, keep]
                done = start + WINDOW
                if first + i + 1 < len(starts):  # the next window starts from the pose generated at its start
                    state = torch.from_numpy(pose_out[:, starts[first + i + 1]]).to(device)
                    if anchor > 0:
                        state = state + anchor * (first_state - state)
                bar.update(1)
    bar.close()
    return pose_out, face_out


def initial_states(model: LoadedModel, count: int, seed: int, init_frame: int | None,
                   sigma: float | None = None, start_state: np.ndarray | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First states of `count` samples: (states (N, D), state-bank frames (N,), seeds (N,)).

    Sample k uses seed + k. Without `init_frame` it starts from a random
    training frame (the release's choice); with it, every sample starts
    there and samples after the first get Eq. 1's noise ξ ~ N(0, σ) (σ as in
    training) so that they still differ. `start_state` (D,) replaces the
    training frame (e.g. a held-out clip's first pose; its frame is -1).
    """
    bank = model.state_bank.numpy()
    if init_frame is not None and not 0 <= init_frame < len(bank):
        raise Dr2Error(f"--init-frame {init_frame} is outside the model's {len(bank)} training frames "
                       f"(0..{len(bank) - 1})")
    sigma = float(model.config.get("settings", {}).get("sigma", DEFAULT_SIGMA)) if sigma is None else sigma
    states, frames, seeds = [], [], []
    for k in range(count):
        rng = np.random.default_rng(seed + k)
        if start_state is not None:
            frame, state = -1, np.asarray(start_state, np.float32)
        else:
            frame = int(rng.integers(len(bank))) if init_frame is None else init_frame
            state = bank[frame].astype(np.float32)
        if (init_frame is not None or start_state is not None) and k > 0:
            state = state + rng.normal(0.0, sigma, state.shape).astype(np.float32)
        states.append(state)
        frames.append(frame)
        seeds.append(seed + k)
    return np.stack(states), np.asarray(frames), np.asarray(seeds)


# --- audio ----------------------------------------------------------------------------------------------------

def speech_features(model: LoadedModel, audio, deepspeech_graph=None, device: str = "cpu",
                    sample_rate: int | None = None, extractor=None) -> tuple[np.ndarray, int]:
    """Speech (file or samples) -> (normalised features (max(T, 128), 29), T frames at 30 FPS).

    Features are of the kind the model was trained with (checked against the
    checkpoint's record). Speech shorter than a window is padded with silence
    to one window; the output is cropped back to T.
    """
    kind = model.feature_kind
    if kind not in FEATURE_KINDS:
        raise Dr2Error(f"the model was trained on {kind!r} features, which dr2 cannot compute from audio; "
                       f"train it on clips prepared with `dr2 prep`")
    samples = load_audio(audio, sample_rate)
    check_speech(samples, FPS, what="the speech")
    frames = frames_for_duration(len(samples) / SAMPLE_RATE, FPS)
    if extractor is None:  # dr2.Model passes the one it keeps, so DeepSpeech's graph is read once
        extractor = make_extractor(kind, deepspeech_graph if kind == "deepspeech" else None, device)
    expected = model.config.get("feature_description") or {}
    if expected:
        check_feature_kind(expected, feature_info(extractor, FPS))
    padded_frames = max(frames, WINDOW)
    if frames < WINDOW:
        samples = np.pad(samples, (0, math.ceil(WINDOW / FPS * SAMPLE_RATE) - len(samples)))
    if frames <= FEATURE_CHUNK_FRAMES:
        features = frame_features(extractor, samples, padded_frames, FPS)
    else:
        features = chunked_features(extractor, samples, frames)
    return model.codecs.normalise_audio(features), frames


def chunked_features(extractor, samples: np.ndarray, frames: int) -> np.ndarray:
    """(frames, 29) features of long speech, computed FEATURE_CHUNK_FRAMES at a time with context on both sides.

    Extractors hold whole-signal intermediates (the built-in one about 2 GB
    per 15 minutes), so an hour at once would need ~8 GB. Chunks start on
    3-frame (0.1 s) boundaries, where frame, sample and 50 Hz feature clocks
    meet, so each chunk's rows sit where whole-signal rows would; the margins
    keep window edges (deltas, DeepSpeech context) out of the kept frames.
    Level-relative channels are relative to each ~5-minute chunk, as they are
    to each ~2-minute clip in training.
    """
    out = np.empty((frames, extractor.dim), np.float32)
    samples_per_3_frames = 3 * SAMPLE_RATE // FPS  # 1600: integral, and a whole number of 20 ms hops
    bar = progress_bar(total=frames, desc="audio features", unit="frame")
    for start in range(0, frames, FEATURE_CHUNK_FRAMES):
        stop = min(start + FEATURE_CHUNK_FRAMES, frames)
        first = max(0, start - FEATURE_MARGIN_FRAMES)
        last = min(frames, stop + FEATURE_MARGIN_FRAMES)
        piece = samples[first // 3 * samples_per_3_frames: -(-last // 3) * samples_per_3_frames]
        rows = frame_features(extractor, piece, last - first, FPS)
        out[start:stop] = rows[start - first: stop - first]
        bar.update(stop - start)
    bar.close()
    return out


def require_decodable(model: LoadedModel, model_dir: Path) -> None:
    """Refuse models without codecs or clip identities: they cannot give SMPL-X parameters."""
    if model.codecs is None or not model.codecs.clips:
        raise Dr2Error(f"{model_dir} was trained on pre-encoded arrays and cannot decode to SMPL-X; "
                       f"train it on clips prepared with `dr2 prep`")


def require_body_model(model: LoadedModel, body, model_dir: Path) -> None:
    """Refuse a body model other than the one the training clips were fitted with (their poses mean nothing on it)."""
    trained_with = model.config.get("body_model")
    if trained_with is not None and trained_with != body.fingerprint:
        raise Dr2Error(f"{model_dir} was trained on clips fitted with another body model than {body.describe()}; "
                       f"pass the --smplx-model (or $DR2_SMPLX_MODEL) used for `dr2 prep`")


def synthesize_states(model: LoadedModel, audio, num_samples: int = 1, seed: int = 0, init_frame: int | None = None,
                      device: str = "cpu", deepspeech_graph=None, smoothing: int = SMOOTHING_RANGE,
                      sample_rate: int | None = None, start_state: np.ndarray | None = None,
                      overlap: int = OVERLAP, state_noise: float = STATE_NOISE, anchor: float = ANCHOR,
                      extractor=None, low_pass_hz: float = LOW_PASS_HZ) -> Synthesis:
    """Speech -> N sequences of pose states and faces, T frames each (the audio's length at 30 FPS),
    low-passed at `low_pass_hz` (0: as generated)."""
    if num_samples < 1:
        raise Dr2Error(f"--num-samples must be at least 1 (got {num_samples})")
    if (problem := cutoff_problem(low_pass_hz, FPS)) is not None:
        raise Dr2Error(problem)
    features, frames = speech_features(model, audio, deepspeech_graph, device, sample_rate, extractor)
    states, init_frames, seeds = initial_states(model, num_samples, seed, init_frame, start_state=start_state)
    pose, face = generate_states(model.network, features, states, smoothing, device, overlap=overlap,
                                 state_noise=state_noise, seeds=seeds, anchor=anchor)
    if low_pass_hz > 0:
        for k in range(num_samples):  # one sample at a time: an hour of speech stays small
            pose[k] = low_pass(pose[k], [(0, pose.shape[1])], FPS, low_pass_hz)
            face[k] = low_pass(face[k], [(0, face.shape[1])], FPS, low_pass_hz)
    return Synthesis(pose[:, :frames], face[:, :frames], init_frames, seeds)


# --- SMPL-X parameters ----------------------------------------------------------------------------------------

def identity_of(model: LoadedModel, frame: int) -> ClipIdentity:
    """The training clip a state-bank frame comes from: its speaker's shape, orientation and place."""
    return model.codecs.clips[int(model.state_bank_clip[frame])]


def smplx_params(model: LoadedModel, pose: np.ndarray, face: np.ndarray,
                 identity: ClipIdentity) -> dict[str, np.ndarray]:
    """Pose states (T, D) and faces (T, 10) -> `smplx.SMPLX` forward arguments, every array (T, ·) float32.

    Betas are repeated per frame so that a layer with batch_size=T takes the
    dict as is; hands are full axis-angle relative to the mean hand
    (SMPLX_OPTIONS: use_pca=False, flat_hand_mean=False); eyes stay at rest.
    """
    decoded = model.codecs.decode(pose, face, identity)
    frames = len(pose)
    betas = np.zeros(NUM_BETAS, np.float32)
    given = np.asarray(decoded["betas"], np.float32).reshape(-1)[:NUM_BETAS]
    betas[:len(given)] = given
    zeros = np.zeros((frames, 3), np.float32)
    params = {
        "betas": np.tile(betas, (frames, 1)),
        "global_orient": decoded["global_orient"],
        "body_pose": decoded["body_pose"],
        "jaw_pose": decoded["jaw_pose"],
        "leye_pose": zeros,
        "reye_pose": zeros,
        "left_hand_pose": decoded["left_hand_pose"],
        "right_hand_pose": decoded["right_hand_pose"],
        "expression": decoded["expression"],
        "transl": decoded["transl"],
    }
    return {key: np.ascontiguousarray(params[key], dtype=np.float32) for key in SMPLX_KEYS}


def load_sample(path: Path) -> dict[str, np.ndarray]:
    """A synthesised *.npz (no pickle)."""
    return read_npz(path, "synthesise it again with `dr2 synth`")


# --- the command ----------------------------------------------------------------------------------------------

def check_output_dir(out_dir: Path) -> Path:
    """Create `out_dir` and prove it writable before any work."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".dr2-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise Dr2Error(f"cannot write to output directory {out_dir} ({error.strerror or error}); "
                       f"give a writable --out") from None
    return out_dir


def check_stem_free(out_dir: Path, stem: str, audio_path: Path) -> None:
    """Refuse to write `<stem>_*` over the results of another speech file with the same stem (speech.mp3/.m4a)."""
    mine = str(Path(audio_path).resolve())
    for info_path in sorted(Path(out_dir).glob(f"{stem}_seed*.json")):
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            continue
        theirs = info.get("audio_resolved") or str(Path(info.get("audio", "")).resolve())
        if theirs != mine:
            raise Dr2Error(f"{out_dir} already holds gestures for {theirs} under the name {stem}_*; "
                           f"give {Path(audio_path).name} another --out (or rename it) so neither is overwritten")


def synthesis_options(overlap: int, state_noise: float, anchor: float, smoothing: int = SMOOTHING_RANGE,
                      low_pass_hz: float = LOW_PASS_HZ) -> dict:
    """How the windows were joined and filtered, as each sample's .json records it."""
    return {"window": WINDOW, "stride": WINDOW - overlap, "overlap": overlap, "state_noise": state_noise,
            "anchor": anchor, "smoothing": smoothing, "low_pass_hz": low_pass_hz}


def sample_info(model: LoadedModel, model_dir: Path, frames: int, audio_path: Path | None, seed: int, init_frame: int,
                init_noise: bool, clip: str, options: dict) -> dict:
    """A sample's .json beside its .npz: how it was made (speech, model, seed, initial state, options)."""
    audio = {} if audio_path is None else {  # a waveform has no file to name
        "audio": str(audio_path), "audio_resolved": str(audio_path.resolve())}
    return {"frames": frames, "fps": FPS, **audio, "seed": seed, "init_frame": init_frame, "init_noise": init_noise,
            "clip": clip, "model": str(model_dir), "model_step": model.config.get("step"),
            "feature_kind": model.feature_kind, **options, "smplx": SMPLX_OPTIONS}


def synthesize(
    model_dir: Path,
    audio_path: Path,
    out_dir: Path,
    num_samples: int = 1,
    seed: int = 0,
    init_frame: int | None = None,
    device: str = "cpu",
    preview: bool = True,
    grid: bool = False,
    deepspeech_graph: str | Path | None = None,
    body_model: str | Path | None = None,
    renderer: str = "auto",
    smoothing: int = SMOOTHING_RANGE,
    overlap: int = OVERLAP,
    state_noise: float = STATE_NOISE,
    anchor: float = ANCHOR,
    look: str = "person",
    low_pass_hz: float = LOW_PASS_HZ,
) -> list[SampleOutput]:
    """`dr2 synth`: speech -> per sample `<stem>_seed<S>.npz` (+ .json) and a preview `.mp4` with the audio.

    `grid` renders all samples side by side into one `<stem>_grid.mp4`
    instead of one video each. `body_model` ("open", an SMPL-X .npz, or None
    for $DR2_SMPLX_MODEL / the open body) must be the one the training clips
    were fitted with. `look` dresses the preview's body (preview.LOOKS). Returns one SampleOutput per sample.
    """
    model_dir, audio_path = Path(model_dir), Path(audio_path)
    out_dir = check_output_dir(out_dir)
    model = load_model(model_dir, device)
    require_decodable(model, model_dir)
    body = None
    if preview:
        from dr2prep.bodymodel.loading import load_body_model

        body = load_body_model(body_model)  # fail early, before the network runs
        require_body_model(model, body, model_dir)
    stem = audio_path.stem
    check_stem_free(out_dir, stem, audio_path)
    result = synthesize_states(model, audio_path, num_samples, seed, init_frame, device, deepspeech_graph, smoothing,
                               overlap=overlap, state_noise=state_noise, anchor=anchor, low_pass_hz=low_pass_hz)
    frames = result.pose.shape[1]
    outputs, all_params = [], []
    for k in range(num_samples):
        frame, sample_seed = int(result.init_frames[k]), int(result.seeds[k])
        identity = identity_of(model, frame)
        params = smplx_params(model, result.pose[k], result.face[k], identity)
        name = f"{stem}_seed{sample_seed}"
        params_path, info_path = out_dir / f"{name}.npz", out_dir / f"{name}.json"
        savez_atomic(params_path, **params)
        write_json_atomic(info_path, sample_info(model, model_dir, frames, audio_path, sample_seed, frame,
                                                 bool(init_frame is not None and k > 0), identity.name,
                                                 synthesis_options(overlap, state_noise, anchor, smoothing,
                                                                   low_pass_hz)))
        outputs.append(SampleOutput(params_path, info_path, None, sample_seed, frame, frames))
        if preview:
            all_params.append(params)
    if preview:
        from dr2model.preview import render_preview

        labels = [f"seed {o.seed}, frame {o.init_frame}" for o in outputs]
        if grid:
            path = render_preview(all_params, body, audio_path, out_dir / f"{stem}_grid.mp4", labels, renderer,
                                  look=look)
            outputs = [SampleOutput(o.params_path, o.info_path, path, o.seed, o.init_frame, o.frames) for o in outputs]
        else:
            videos = [render_preview([p], body, audio_path, o.params_path.with_suffix(".mp4"), [label], renderer,
                                     look=look)
                      for o, p, label in zip(outputs, all_params, labels)]
            outputs = [SampleOutput(o.params_path, o.info_path, video, o.seed, o.init_frame, o.frames)
                       for o, video in zip(outputs, videos)]
    say(f"synth: {num_samples} sample{'s' if num_samples > 1 else ''} of {frames} frames in {out_dir}")
    return outputs
