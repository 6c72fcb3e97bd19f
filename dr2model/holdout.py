"""The held-out speaker check (DESIGN §4.11): is synthesised motion the speaker's, for speech the model never heard?

Every candidate (samples of a model, baselines, the held-out clip's own fit)
is a list of SMPL-X parameter sequences, turned into joints the same way:
the body model posed with the held-out fit's shape and orientation, and the
upper body (spine1 .. wrists) taken relative to the pelvis, in mm. On those:

- Fréchet distance (FD) of per-frame velocity, and of per-frame pose with the
  sequence's own mean removed ("centred pose"), each against the held-out fit;
  posture = distance of the mean poses (mm per joint);
- mean wrist speed / the held-out fit's;
- beat consistency (EMAGE variant, dr2model.metrics) with its z-score and the
  share of circular audio shifts (0.5 s steps) that score at least as high:
  a motion not driven by the speech scores as well shifted as unshifted;
- the same velocity FD on the gesture band (motion low-passed at 8 Hz within
  shots), and the share of velocity power above it: the fits carry keypoint
  jitter there (18-19% of the real fits' velocity power within shots, against
  2-7% for synthesised motion), which the raw velocity FD counts as motion;
- diversity: mean per-frame joint distance between samples at the same frame;
- continuity: the step (mean joint displacement) at the first frame of each
  synthesis window / the other steps, and mean jerk (m/s³).

Shot cuts (jump-cut edits): a cut is a teleport, not motion. Every temporal
quantity (velocity rows, wrist speed, jerk, BC, seam steps) is taken only
within the steady part of each shot (dr2prep.shots.steady_segments: the
cut's frames and TRANSITION_MARGIN either side left out). The held-out fit
carries its clip's cuts (params.npz `shot_starts`); a real stretch or a
retrieved window carries the training part's cuts that fall inside it, and
both are drawn inside one shot where the shots are long enough. Synthesised
motion and the still pose have no cuts.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np

from dr2model.metrics import beat_consistency
from dr2prep.shots import steady_segments
from dr2common.low_pass import GESTURE_BAND_HZ, MIN_FRAMES, low_pass
from dr2common.rates import FPS

PELVIS = 0
UPPER = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)  # SMPL-X spine1 .. wrists
WRISTS = (20, 21)
SHIFT_STEP_S = 0.5  # circular audio shifts of the BC control


def upper_body_mm(joints: np.ndarray) -> np.ndarray:
    """(T, 55, 3) joints in metres -> (T, 13, 3) pelvis-relative upper-body joints in mm."""
    joints = np.asarray(joints, np.float64)
    return (joints[:, list(UPPER)] - joints[:, PELVIS:PELVIS + 1]) * 1000.0


def with_identity(params: dict, betas: np.ndarray, global_orient: np.ndarray) -> dict:
    """SMPL-X arguments (T, ·) with the shape and orientation replaced: every candidate posed on one body."""
    frames = len(params["body_pose"])
    out = dict(params)
    b = np.zeros((frames, 10), np.float32)
    given = np.asarray(betas, np.float32).reshape(-1)[:10]
    b[:, :len(given)] = given
    out["betas"] = b
    out["global_orient"] = np.tile(np.asarray(global_orient, np.float32).reshape(1, 3), (frames, 1))
    out["transl"] = np.zeros((frames, 3), np.float32)
    return out


# --- Fréchet distance -----------------------------------------------------------------------------------------

def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to rows of a (N, D) and b (M, D) (squared-units, as FID)."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # near-singular covariances (a still pose) are expected among the baselines
        warnings.simplefilter("ignore")
        covmean = np.real(linalg.sqrtm(cov_a @ cov_b))
    if not np.all(np.isfinite(covmean)):
        covmean = np.zeros_like(cov_a)
    value = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * covmean))
    return max(value, 0.0)


def segments_of(x: np.ndarray, cuts=()) -> list[tuple[int, int]]:
    """[start, end) pieces of x whose frame-to-frame steps are motion: the steady part of each shot."""
    return steady_segments(len(x), np.asarray(cuts, np.int64).reshape(-1))


def velocity_rows(x: np.ndarray, cuts=()) -> np.ndarray:
    """(T, J, 3) mm -> (N, J*3) per-frame velocity, mm/frame, of the steps within shots (N = T-1 without cuts)."""
    rows = [np.diff(x[a:b], axis=0).reshape(b - a - 1, -1) for a, b in segments_of(x, cuts) if b - a > 1]
    return np.concatenate(rows) if rows else np.zeros((0, int(np.prod(x.shape[1:]))))


def gesture_band(x: np.ndarray, cuts=(), fps: float = FPS, hz: float = GESTURE_BAND_HZ) -> np.ndarray:
    """x low-passed at `hz` (low_pass.py: no lag), each steady shot part apart; short parts left as they are."""
    return low_pass(x, segments_of(x, cuts), fps, hz)


def high_band_share(x: np.ndarray, cuts=(), fps: float = FPS, hz: float = GESTURE_BAND_HZ) -> float:
    """Share of the velocity power (within shots) at frequencies above `hz`."""
    power = above = 0.0
    for start, end in segments_of(x, cuts):
        if end - start < MIN_FRAMES:
            continue
        velocity = np.diff(x[start:end], axis=0).reshape(end - start - 1, -1)
        spectrum = np.abs(np.fft.rfft(velocity - velocity.mean(axis=0), axis=0)) ** 2
        frequencies = np.fft.rfftfreq(len(velocity), 1.0 / fps)
        power += float(spectrum.sum())
        above += float(spectrum[frequencies > hz].sum())
    return above / power if power > 0 else float("nan")


def centred_rows(x: np.ndarray) -> np.ndarray:
    """(T, J, 3) -> (T, J*3) pose with the sequence's mean pose removed."""
    return (x - x.mean(axis=0, keepdims=True)).reshape(len(x), -1)


# --- beats against shifted audio ------------------------------------------------------------------------------

def bc_within_shots(onsets: np.ndarray, x: np.ndarray, fps: float = FPS, cuts=()) -> float:
    """BC of x (T, J, 3) taken on each shot's steady part alone (its own onsets, on its own clock), weighted by
    frames; the plain BC without cuts. NaN when no piece has onsets."""
    onsets = np.asarray(onsets, np.float64)
    segments = segments_of(x, cuts)
    if len(segments) == 1 and segments[0] == (0, len(x)):
        return beat_consistency(onsets, x, fps)
    values = []
    for a, b in segments:
        inside = onsets[(onsets >= a / fps) & (onsets < b / fps)] - a / fps
        value = beat_consistency(inside, x[a:b], fps) if b - a > 2 else float("nan")
        if np.isfinite(value):
            values.append((value, b - a))
    return float(sum(v * w for v, w in values) / sum(w for _, w in values)) if values else float("nan")


def bc_with_shifts(onsets: np.ndarray, x: np.ndarray, fps: float = FPS, step: float = SHIFT_STEP_S,
                   cuts=()) -> dict:
    """BC of motion x (T, J, 3) for the true onsets and for every circular shift of them by k·step (k ≥ 1),
    within shots when x has `cuts` (bc_within_shots).

    Returns bc, the shifted scores' mean and std, z = (bc − mean)/std and the
    share of shifts with a score ≥ bc (NaN without onsets or motion beats).
    """
    duration = len(x) / fps
    bc = bc_within_shots(onsets, x, fps, cuts)
    shifts = np.arange(step, duration - step / 2, step)
    scores = np.array([bc_within_shots(np.sort((np.asarray(onsets) + s) % duration), x, fps, cuts)
                       for s in shifts])
    if not np.isfinite(bc) or len(scores) == 0:
        return {"bc": bc, "bc_shift_mean": float("nan"), "bc_z": float("nan"), "bc_shift_share": float("nan")}
    std = float(scores.std())
    return {
        "bc": float(bc),
        "bc_shift_mean": float(scores.mean()),
        "bc_z": float((bc - scores.mean()) / std) if std > 0 else float("nan"),
        "bc_shift_share": float(np.mean(scores >= bc)),
    }


# --- one candidate against the held-out fit -------------------------------------------------------------------

def _nanmean(values) -> float:
    values = np.asarray([v for v in values if v is not None], np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def wrist_speed(x: np.ndarray, fps: float = FPS, cuts=()) -> float:
    """Mean speed of both wrists over the steps within shots, mm/s."""
    wrists = [UPPER.index(j) for j in WRISTS]
    rows = velocity_rows(x[:, wrists], cuts).reshape(-1, len(wrists), 3)
    return float(np.linalg.norm(rows, axis=-1).mean() * fps) if len(rows) else float("nan")


def steps_within_shots(x: np.ndarray, cuts=()) -> np.ndarray:
    """(T-1,) bool: the step into frame t (index t-1) lies within a shot's steady part."""
    inside = np.zeros(max(len(x) - 1, 0), bool)
    for a, b in segments_of(x, cuts):
        inside[a:b - 1] = True
    return inside


def frame_steps(x: np.ndarray) -> np.ndarray:
    """(T-1,) mean joint displacement from frame t-1 to t (mm); index t-1 holds the step into frame t."""
    return np.linalg.norm(np.diff(x, axis=0), axis=-1).mean(axis=1)


def mean_jerk(x: np.ndarray, fps: float = FPS, cuts=()) -> float:
    """Mean magnitude of the third derivative of joint positions within shots, m/s³ (x in mm)."""
    pieces = [np.linalg.norm(np.diff(x[a:b], n=3, axis=0), axis=-1).reshape(-1)
              for a, b in segments_of(x, cuts) if b - a >= 4]
    if not pieces:
        return float("nan")
    return float(np.concatenate(pieces).mean() * fps**3 / 1000.0)


def seam_ratio(x: np.ndarray, seams, cuts=()) -> dict:
    """Steps at the window joins vs all other steps: mean mm and their ratio.

    `seams`: frames, or (first, last) frame ranges (inclusive) where windows
    are blended (a cross-fade); a range counts with its mean step, the step
    of the join as a viewer sees it (a jump spread over a cross-fade moves
    every blended frame a little more). Steps across a cut of x count as neither.
    """
    steps = frame_steps(x)
    steady = steps_within_shots(x, cuts)
    at_seam = np.zeros(len(steps), bool)
    seam_steps = []
    for seam in seams:
        first, last = (seam, seam) if np.isscalar(seam) else seam
        first, last = max(int(first), 1), min(int(last), len(x) - 1)
        if first > last:
            continue
        keep = steady[first - 1:last]
        at_seam[first - 1:last] = True
        if keep.any():
            seam_steps.append(steps[first - 1:last][keep].mean())
    other_steps = steps[~at_seam & steady]
    if not seam_steps or not len(other_steps):
        return {"seam_step_mm": float("nan"), "other_step_mm": float(steps[steady].mean()) if steady.any()
                else float("nan"), "seam_ratio": float("nan")}
    seam, other = float(np.mean(seam_steps)), float(other_steps.mean())
    return {"seam_step_mm": seam, "other_step_mm": other, "seam_ratio": seam / other if other > 0 else float("nan")}


def diversity(samples: list[np.ndarray]) -> float:
    """Mean over sample pairs of the mean per-joint distance at the same frame (mm); NaN for one sample."""
    pairs = list(combinations(range(len(samples)), 2))
    if not pairs:
        return float("nan")
    frames = min(len(s) for s in samples)
    return _nanmean(np.linalg.norm(samples[a][:frames] - samples[b][:frames], axis=-1).mean() for a, b in pairs)


def _cuts_before(cuts, frames: int) -> list[int]:
    return [int(c) for c in np.asarray(cuts, np.int64).reshape(-1) if 0 < c < frames]


def candidate_metrics(samples: list[np.ndarray], truth: np.ndarray, onsets: np.ndarray, fps: float = FPS,
                      truth_cuts=(), sample_cuts: list | None = None) -> dict:
    """Every per-sample metric of N upper-body sequences (T, 13, 3) mm against the held-out fit, averaged.

    `truth_cuts` / `sample_cuts` (one list per sample): shot changes (frames) of the fit and of each sample
    (real footage); temporal metrics skip them (module docstring). Synthesised samples have none.
    """
    frames = min(len(truth), *(len(s) for s in samples))
    samples, truth = [s[:frames] for s in samples], truth[:frames]
    truth_cuts = _cuts_before(truth_cuts, frames)
    sample_cuts = [_cuts_before(c, frames) for c in (sample_cuts or [()] * len(samples))]
    truth_velocity, truth_centred = velocity_rows(truth, truth_cuts), centred_rows(truth)
    truth_band_velocity = velocity_rows(gesture_band(truth, truth_cuts, fps), truth_cuts)
    truth_mean = truth.mean(axis=0)
    truth_wrist = wrist_speed(truth, fps, truth_cuts)
    rows = []
    for x, cuts in zip(samples, sample_cuts):
        row = {
            "fd_velocity": frechet_distance(velocity_rows(x, cuts), truth_velocity),
            "fd_velocity_band": frechet_distance(velocity_rows(gesture_band(x, cuts, fps), cuts), truth_band_velocity),
            "high_band_share": high_band_share(x, cuts, fps),
            "fd_centred_pose": frechet_distance(centred_rows(x), truth_centred),
            "posture_mm": float(np.linalg.norm(x.mean(axis=0) - truth_mean, axis=-1).mean()),
            "wrist_speed_ratio": wrist_speed(x, fps, cuts) / truth_wrist if truth_wrist > 0 else float("nan"),
            "jerk": mean_jerk(x, fps, cuts),
        }
        row.update(bc_with_shifts(onsets, x, fps, cuts=cuts))
        rows.append(row)
    out = {key: _nanmean(r[key] for r in rows) for key in rows[0]}
    out["samples"] = len(samples)
    out["frames"] = frames
    out["diversity_mm"] = diversity(samples)
    return out


# --- baselines ------------------------------------------------------------------------------------------------

def random_stretches(frames_total: int, length: int, count: int, seed: int, cuts=()) -> list[int]:
    """Start frames of `count` random stretches of `length` frames in a sequence of `frames_total` frames.

    With shot changes at `cuts`, each stretch lies inside one shot where a shot is long enough; otherwise the
    stretches are drawn among those crossing the fewest cuts (the longest pieces), and carry those cuts.
    """
    rng = np.random.default_rng(seed)
    cuts = np.asarray(cuts, np.int64).reshape(-1)
    if not len(cuts):
        return [int(s) for s in rng.integers(0, frames_total - length + 1, count)]
    starts = np.arange(0, frames_total - length + 1)
    crossed = np.array([np.count_nonzero((cuts > s) & (cuts < s + length)) for s in starts])
    fewest = starts[crossed == crossed.min()]
    return [int(s) for s in rng.choice(fewest, count)]


def cuts_inside(cuts, start: int, length: int) -> list[int]:
    """The cuts of a sequence that fall inside [start, start + length), relative to start."""
    return [int(c) - start for c in np.asarray(cuts, np.int64).reshape(-1) if start < c < start + length]


def windows_inside_shots(frames: int, window: int, cuts, count: int) -> np.ndarray | None:
    """Window starts that lie inside one shot, when they offer `count` windows at least a window apart
    (what nearest_audio_windows needs); None when the shots are too short for that."""
    cuts = np.asarray(cuts, np.int64).reshape(-1)
    starts = np.arange(0, frames - window + 1)
    inside = starts[[not np.any((cuts > s) & (cuts < s + window)) for s in starts]]
    spaced = []
    for s in inside:
        if not spaced or s - spaced[-1] >= window:
            spaced.append(int(s))
    return inside if len(spaced) >= count else None


def real_stretch_distance(train: np.ndarray, length: int, pairs: int = 20, seed: int = 0) -> float:
    """Mean per-frame joint distance between two random stretches of the training motion (mm): real diversity."""
    rng = np.random.default_rng(seed)
    length = min(length, len(train) // 2)
    distances = []
    for _ in range(pairs):
        a, b = rng.integers(0, len(train) - length + 1, 2)
        distances.append(np.linalg.norm(train[a:a + length] - train[b:b + length], axis=-1).mean())
    return float(np.mean(distances))


def nearest_audio_windows(train_audio: np.ndarray, query_audio: np.ndarray, window: int, stride: int,
                          count: int, allowed: np.ndarray | None = None) -> list[list[int]]:
    """Nearest-neighbour audio retrieval: for each query window (every `stride` frames), the training window
    starts of the `count` nearest audio windows (L2 on the feature sequence). Returns count lists of starts.
    `allowed`: the training window starts to choose from (e.g. windows_inside_shots); default all."""
    starts = np.arange(0, len(train_audio) - window + 1) if allowed is None else np.asarray(allowed)
    bank = np.stack([train_audio[s:s + window].reshape(-1) for s in starts])
    query_starts = window_starts(len(query_audio), window, stride)
    chosen = [[] for _ in range(count)]
    for q in query_starts:
        distances = np.linalg.norm(bank - query_audio[q:q + window].reshape(-1), axis=1)
        order = np.argsort(distances)
        picked = []
        for s in order:  # distinct neighbours at least a window apart, so the samples are not shifted copies
            if all(abs(int(starts[s]) - p) >= window for p in picked):
                picked.append(int(starts[s]))
            if len(picked) == count:
                break
        while len(picked) < count:
            picked.append(picked[-1])
        for k in range(count):
            chosen[k].append(picked[k])
    return chosen


def window_starts(frames: int, window: int, stride: int) -> np.ndarray:
    """Window starts every `stride` frames, the last aligned to the end (as synthesis places its windows)."""
    if frames <= window:
        return np.array([0])
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return np.asarray(starts)


def assemble_windows(train: np.ndarray, query_starts: np.ndarray, train_starts: list[int], frames: int,
                     window: int) -> np.ndarray:
    """Copy the training rows of each retrieved window to where its query window lies (later windows win)."""
    out = np.empty((frames,) + train.shape[1:], train.dtype)
    for q, s in zip(query_starts, train_starts):
        length = min(window, frames - q)
        out[q:q + length] = train[s:s + length]
    return out


def assembled_cuts(query_starts: np.ndarray, train_starts: list[int], frames: int, window: int, cuts) -> list[int]:
    """Frames of an assemble_windows result where a training cut lies between consecutive copied frames
    (window joins are the method's own seams, not cuts)."""
    source = np.empty(frames, np.int64)
    for q, s in zip(query_starts, train_starts):
        length = min(window, frames - q)
        source[q:q + length] = np.arange(s, s + length)
    cut_set = set(int(c) for c in np.asarray(cuts, np.int64).reshape(-1))
    return [t for t in range(1, frames) if source[t] == source[t - 1] + 1 and int(source[t]) in cut_set]


# --- targets --------------------------------------------------------------------------------------------------

def verdicts(model_row: dict, real_row: dict, real_distance: float, fit_jerk: float) -> dict:
    """The issue's targets for one model row: True/False per target."""
    def le(a, b):
        return bool(np.isfinite(a) and np.isfinite(b) and a <= b)

    return {
        "diversity>=30%real": le(0.3 * real_distance, model_row.get("diversity_mm", float("nan"))),
        "fd_velocity<=1.5xreal": le(model_row["fd_velocity"], 1.5 * real_row["fd_velocity"]),
        "fd_centred<=1.5xreal": le(model_row["fd_centred_pose"], 1.5 * real_row["fd_centred_pose"]),
        "wrist_0.7-1.3": bool(0.7 <= model_row["wrist_speed_ratio"] <= 1.3),
        "shift_share<=0.10": le(model_row["bc_shift_share"], 0.10),
        "seam<=1.5": le(model_row.get("long_seam_ratio", float("nan")), 1.5),
        "jerk<=fit": le(model_row.get("long_jerk", float("nan")), fit_jerk),
        "(extra, not the issue's) fd_velocity<8Hz<=1.5xreal": le(model_row["fd_velocity_band"],
                                                                 1.5 * real_row["fd_velocity_band"]),
    }


# --- the whole check on prepared clips ------------------------------------------------------------------------

def clip_joints(body, params: dict, betas: np.ndarray, global_orient: np.ndarray) -> np.ndarray:
    """SMPL-X arguments (T, ·) -> (T, 13, 3) pelvis-relative upper-body joints (mm), posed on the given identity."""
    from dr2model.evaluate import fit_params
    from dr2model.motion_autoencoder import smplx_joints

    if params["betas"].ndim == 1 or len(params["betas"]) != len(params["body_pose"]):
        params = fit_params(params)
    return upper_body_mm(smplx_joints(body, with_identity(params, betas, global_orient)))


def evaluate_holdout(model_dir, train_clip, heldout_clip, body, samples: int = 3, seed: int = 0,
                     long_seconds: float = 60.0, work_dir=None, timings: dict | None = None,
                     synth_options: dict | None = None) -> dict:
    """The held-out check of a trained model: a row per candidate (model samples and the baselines) and the
    reference distances, as a dict (JSON-ready).

    train_clip / heldout_clip: prepared clip folders (smplx/params.npz, audio.wav, audio_features/<kind>.npy).
    `long_seconds` of speech (the held-out speech repeated) give the seam and jerk figures.
    `synth_options` go to `synthesize_states` (e.g. a different overlap); `timings` collects seconds per step.
    """
    import time
    from pathlib import Path

    from dr2model.checkpoint import load_model
    from dr2model.dataset import load_training_params
    from dr2model.demo_input import write_wav
    from dr2model.metrics import audio_onsets
    from dr2model.synthesis import identity_of, seam_frames, smplx_params, synthesize_states
    from dr2common.rates import SAMPLE_RATE
    from dr2prep.audio.reading import load_audio

    timings = {} if timings is None else timings
    synth_options = synth_options or {}
    train_clip, heldout_clip = Path(train_clip), Path(heldout_clip)
    work_dir = Path(work_dir) if work_dir is not None else Path(model_dir)
    clock = time.perf_counter()
    model = load_model(Path(model_dir))
    kind = model.feature_kind
    train_params, heldout_params = (load_training_params(c / "smplx" / "params.npz") for c in (train_clip, heldout_clip))
    betas = np.asarray(heldout_params["betas"], np.float32).reshape(-1)
    orient = np.asarray(heldout_params["global_orient"], np.float64).mean(axis=0)
    truth = clip_joints(body, heldout_params, betas, orient)
    train_joints = clip_joints(body, train_params, betas, orient)
    speech = load_audio(heldout_clip / "audio.wav")
    frames = min(len(truth), int(len(speech) / SAMPLE_RATE * FPS))
    truth = truth[:frames]
    heldout_cuts = _cuts_before(heldout_params.get("shot_starts", ()), frames)
    train_cuts = _cuts_before(train_params.get("shot_starts", ()), len(train_joints))
    onsets = audio_onsets(speech[:int(frames / FPS * SAMPLE_RATE)], SAMPLE_RATE)
    timings["reference_joints_s"] = time.perf_counter() - clock

    def model_joints(result, k: int) -> np.ndarray:
        identity = identity_of(model, int(result.init_frames[k])) if result.init_frames[k] >= 0 else model.codecs.clips[0]
        return clip_joints(body, smplx_params(model, result.pose[k], result.face[k], identity), betas, orient)

    rows = []
    clock = time.perf_counter()
    result = synthesize_states(model, heldout_clip / "audio.wav", samples, seed, **synth_options)
    generated = [model_joints(result, k) for k in range(samples)]
    timings["synth_heldout_s"] = time.perf_counter() - clock
    model_row = {"candidate": "model", **candidate_metrics(generated, truth, onsets, FPS, heldout_cuts)}

    clock = time.perf_counter()
    long_frames = int(round(long_seconds * FPS))
    long_wav = work_dir / f"speech_{long_seconds:g}s.wav"
    work_dir.mkdir(parents=True, exist_ok=True)
    write_wav(long_wav, np.resize(speech, int(long_seconds * SAMPLE_RATE)))
    long_result = synthesize_states(model, long_wav, samples, seed, **synth_options)
    seams = seam_frames(long_frames, **{k: v for k, v in synth_options.items() if k == "overlap"})
    long_rows = []
    for k in range(samples):
        x = model_joints(long_result, k)
        long_rows.append({**seam_ratio(x, seams), "jerk": mean_jerk(x)})
    model_row.update({f"long_{key}": _nanmean(r[key] for r in long_rows) for key in long_rows[0]})
    timings["synth_long_s"] = time.perf_counter() - clock
    rows.append(model_row)

    clock = time.perf_counter()
    starts = random_stretches(len(train_joints), frames, samples, seed, train_cuts)
    stretch_cuts = [cuts_inside(train_cuts, s, frames) for s in starts]
    rows.append({"candidate": "real stretch (training part)",
                 **candidate_metrics([train_joints[s:s + frames] for s in starts], truth, onsets, FPS,
                                     heldout_cuts, stretch_cuts)})
    still = np.repeat(train_joints.mean(axis=0, keepdims=True), frames, axis=0)
    rows.append({"candidate": "mean pose held still",
                 **candidate_metrics([still] * samples, truth, onsets, FPS, heldout_cuts)})
    train_audio = np.load(train_clip / "audio_features" / f"{kind}.npy")
    heldout_audio = np.load(heldout_clip / "audio_features" / f"{kind}.npy")
    mean, std = train_audio.mean(axis=0), train_audio.std(axis=0) + 1e-6
    train_audio, heldout_audio = (train_audio - mean) / std, (heldout_audio - mean) / std
    count = min(len(train_audio), len(train_joints))
    window = min(128, count)
    allowed = windows_inside_shots(count, window, train_cuts, samples) if train_cuts else None
    query = window_starts(frames, window, window - 1)
    retrieved = nearest_audio_windows(train_audio[:count], heldout_audio[:frames], window, window - 1, samples,
                                      allowed)
    nn_samples = [assemble_windows(train_joints, query, r, frames, window) for r in retrieved]
    nn_cuts = [assembled_cuts(query, r, frames, window, train_cuts) for r in retrieved]
    nn_row = {"candidate": "nearest audio (training part)",
              **candidate_metrics(nn_samples, truth, onsets, FPS, heldout_cuts, nn_cuts)}
    long_audio = np.resize(heldout_audio[:frames], (long_frames, heldout_audio.shape[1]))
    long_query = window_starts(long_frames, window, window - 1)
    long_retrieved = nearest_audio_windows(train_audio[:count], long_audio, window, window - 1, samples, allowed)
    nn_long = []
    for r in long_retrieved:
        x = assemble_windows(train_joints, long_query, r, long_frames, window)
        cuts = assembled_cuts(long_query, r, long_frames, window, train_cuts)
        nn_long.append({**seam_ratio(x, long_query[1:], cuts), "jerk": mean_jerk(x, FPS, cuts)})
    nn_row.update({f"long_{key}": _nanmean(r[key] for r in nn_long) for key in nn_long[0]})
    rows.append(nn_row)
    fit_row = {"candidate": "held-out fit (ceiling)",
               **candidate_metrics([truth], truth, onsets, FPS, heldout_cuts, [heldout_cuts])}
    fit_row["long_jerk"] = mean_jerk(truth, FPS, heldout_cuts)
    rows.append(fit_row)
    timings["baselines_s"] = time.perf_counter() - clock

    real_distance = real_stretch_distance(train_joints, frames, seed=seed)
    report = {
        "frames": frames, "seconds": frames / FPS, "samples": samples, "long_seconds": long_seconds,
        "real_stretch_distance_mm": real_distance, "fit_jerk": mean_jerk(truth, FPS, heldout_cuts),
        "shots": {"heldout_cuts": heldout_cuts, "train_cuts": train_cuts,
                  "heldout_steady_frames": int(sum(b - a for a, b in steady_segments(frames, heldout_cuts))),
                  "real_stretch_cuts": [len(c) for c in stretch_cuts],
                  "nearest_audio_inside_shots": allowed is not None or not train_cuts,
                  "nearest_audio_cuts": [len(c) for c in nn_cuts]},
        "model": {"path": str(model_dir), "step": model.config.get("step"),
                  "settings": model.config.get("settings"), "synth_options": synth_options},
        "rows": rows,
    }
    report["targets"] = verdicts(model_row, rows[1], real_distance, report["fit_jerk"])
    return report


COLUMNS = (("candidate", "candidate", "{}"), ("fd_velocity", "FD vel", "{:.1f}"),
           ("fd_velocity_band", "FD vel<8Hz", "{:.1f}"), ("high_band_share", ">8Hz share", "{:.2f}"),
           ("fd_centred_pose", "FD pose", "{:.0f}"), ("posture_mm", "posture mm", "{:.1f}"),
           ("wrist_speed_ratio", "wrist x", "{:.2f}"), ("bc", "BC", "{:.3f}"), ("bc_z", "BC z", "{:.2f}"),
           ("bc_shift_share", "shift share", "{:.2f}"), ("diversity_mm", "divers. mm", "{:.1f}"),
           ("long_seam_ratio", "seam x", "{:.2f}"), ("long_jerk", "jerk m/s3", "{:.1f}"))


def format_table(report: dict) -> list[str]:
    """The report's rows as aligned text lines (header first)."""
    def cell(row, key, fmt):
        value = row.get(key)
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            return "-"
        return fmt.format(value)

    lines = [[label for _, label, _ in COLUMNS]]
    for row in report["rows"]:
        lines.append([cell(row, k, f) for k, _, f in COLUMNS])
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
            for line in lines]
