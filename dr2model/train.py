"""`dr2 train`: the training loop of the audio2gestures network (paired + unpaired branches).

Adam on 128-frame windows with Eq. 1 noise; seedable and resumable with an
identical continuation (all randomness of a step derives from (seed, step)),
TensorBoard logs, CUDA mixed precision and DistributedDataParallel under
`torchrun` when WORLD_SIZE > 1.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from dr2model.checkpoint import (
    LOGS,
    WEIGHTS,
    InterruptAtStepBoundary,
    model_dir_lock,
    has_checkpoint,
    load_tensors,
    load_training_state,
    read_config,
    save_checkpoint,
)
from dr2model.codecs import Codecs, fit_codecs, mano_hands_from_smplx_npz
from dr2model.dataset import (
    ClipArrays,
    GestureWindows,
    clip_arrays_from_params,
    feature_description,
    heard_channels,
    read_clip_inputs,
)
from dr2model.losses import LossWeights, gesture_losses
from dr2model.network import AUDIO_DIM, WINDOW, Audio2Gestures, NetworkConfig
from dr2model.noise import DEFAULT_SIGMA, NOISE_RANGE, add_state_noise
from dr2common.errors import Dr2Error, storage_error
from dr2common.progress import progress_bar, say
from dr2prep.stage import read_record
from dr2common.rates import FPS

# TrainSettings fields of the path closest to the paper where dr2's defaults depart from it: the paper's loss
# formulas are not public; the unpaired posture loss (dr2model/losses.py) and the decoders giving the pose relative to
# the initial state (dr2model/network.py) are dr2's additions for one-to-many.
PAPER_TRAIN_OPTIONS: dict = {"loss": LossWeights(unpaired_posture=0.0), "relative_pose": False}


@dataclass(frozen=True)
class TrainSettings:
    """Everything that shapes a training run; defaults suit a ~2-minute clip (the paper's setting).

    `epochs` is passes over all windows starting every `window_stride`
    frames (2 min at stride 4 ≈ 870 windows). `max_steps`, when given, replaces
    `epochs` as the length of the run (tests, benchmarks); epochs and max_steps
    may change on resume, nothing else may.
    """

    epochs: int = 100
    batch_size: int = 16
    learning_rate: float = 1e-3  # Adam's default; the rate benchmarks/bench_learn.py was measured with
    window_stride: int = 4
    sigma: float = DEFAULT_SIGMA
    noise_range: int = NOISE_RANGE
    seed: int = 0
    standing: bool = False
    feature_kind: str | None = None
    mano_model: str | None = None  # SMPL-X .npz whose MANO hand PCA to pass through; None: learned hand codes
    vposer: str | None = None  # VPoser v1.0 snapshot (.pt or its folder) for the body code; None: learned code
    loss: LossWeights = field(default_factory=LossWeights)
    relative_pose: bool = True  # decoders give P_t − P_1 (dr2model/network.py; one-to-many); False: the paper's
    audio_channels: str = "all"  # "prosody": only loudness, voicing, pitch, onsets (dataset.heard_channels)
    checkpoint_every: int = 500
    log_every: int = 10
    amp: bool = True
    max_steps: int | None = None

    def trajectory_key(self) -> dict:
        """The settings a resumed run must share with the checkpoint."""
        key = asdict(self)
        for free in ("epochs", "max_steps", "checkpoint_every", "log_every"):
            key.pop(free)
        return key


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    epochs_done: float
    final_loss: float | None
    history: list[tuple[int, float]]  # (step, mean total loss since the last log point)
    windows_per_second: float | None
    resumed_from: int
    feature_kind: str


def load_training_clips(clip_dirs: list[Path], settings: TrainSettings) -> tuple[list[ClipArrays], Codecs, str, dict]:
    """Prepared clip directories -> encoded clips, the fitted codecs, the feature kind and its description."""
    if not clip_dirs:
        raise Dr2Error("no clips given; pass --clips WORKSPACE/CLIP for each clip prepared with `dr2 prep`")
    kind = settings.feature_kind or common_feature_kind(clip_dirs)
    inputs = [read_clip_inputs(Path(d), kind) for d in clip_dirs]
    names = [i.name for i in inputs]
    if len(set(names)) != len(names):
        raise Dr2Error(f"clip names repeat ({', '.join(names)}); give each clip once")
    mano = mano_hands_from_smplx_npz(Path(settings.mano_model)) if settings.mano_model else None
    vposer = None
    if settings.vposer:
        from dr2prep.bodymodel.vposer import load_vposer_v1

        vposer = load_vposer_v1(Path(settings.vposer))
    from dr2model.speakers import several_clips_note

    if several_clips_note(names):
        say(several_clips_note(names))
    description = feature_description(Path(clip_dirs[0]), kind)
    heard = heard_channels(description.get("channels", []), settings.audio_channels)
    codecs = fit_codecs([i.params for i in inputs], [i.features for i in inputs], settings.standing, mano, vposer,
                        audio_heard=heard)
    clips = []
    for item in inputs:
        arrays = clip_arrays_from_params(item.params, item.features, codecs, item.name)
        arrays.feature_kind = kind
        clips.append(arrays)
    codecs.clips = [c.identity for c in clips]
    return clips, codecs, kind, description


def fitted_body_model(clip_dirs: list[Path]) -> str | None:
    """The fingerprint of the body model the clips were fitted with (None when not recorded).

    Synthesis and evaluation decode with a body model the user names again;
    the model records this one so that a different model is refused there.
    """
    fingerprints = {}
    for clip_dir in clip_dirs:
        record = read_record(Path(clip_dir), "smplx") or {}
        fingerprints[Path(clip_dir).name] = record.get("inputs", {}).get("body_model")
    if len(set(fingerprints.values())) > 1:
        raise Dr2Error(f"the clips were fitted with different body models ({', '.join(fingerprints)}); "
                       f"refit them with one --smplx-model (`dr2 fit-smplx CLIP --smplx-model ...`)")
    return next(iter(fingerprints.values()), None)


def common_feature_kind(clip_dirs: list[Path]) -> str:
    """The one audio feature kind all clips have; an error when they differ or it is ambiguous."""
    from dr2model.dataset import available_feature_kinds

    kinds = {Path(d).name: set(available_feature_kinds(Path(d))) for d in clip_dirs}
    common = set.intersection(*kinds.values()) if kinds else set()
    if len(common) == 1:
        return common.pop()
    if not common:
        listing = "; ".join(f"{name}: {', '.join(sorted(k)) or 'none'}" for name, k in kinds.items())
        if not any(kinds.values()):
            return ""  # read_clip_inputs reports the missing stage
        raise Dr2Error(f"the clips have different audio feature kinds ({listing}); prepare them all with the same kind")
    raise Dr2Error(
        f"the clips have several audio feature kinds ({', '.join(sorted(common))}); choose one with --audio-features"
    )


def check_clip_arrays(clips: list[ClipArrays]) -> str:
    """Checks of already-encoded clips; returns their common feature kind."""
    if not clips:
        raise Dr2Error("no clips given; pass --clips WORKSPACE/CLIP for each clip prepared with `dr2 prep`")
    kinds = {c.feature_kind for c in clips}
    if len(kinds) > 1:
        listing = ", ".join(f"{c.name}: {c.feature_kind}" for c in clips)
        raise Dr2Error(f"the clips have different audio feature kinds ({listing}); prepare them all with the same kind")
    for clip in clips:
        if clip.audio.shape[1] != AUDIO_DIM:
            raise Dr2Error(
                f"clip {clip.name} has {clip.audio.shape[1]}-dim audio features; the network needs {AUDIO_DIM}"
            )
        if clip.pose.shape[1] != clips[0].pose.shape[1]:
            raise Dr2Error(
                f"clip {clip.name} has a {clip.pose.shape[1]}-dim pose state but {clips[0].name} "
                f"{clips[0].pose.shape[1]}; encode all clips with the same codecs"
            )
        if not (len(clip.pose) == len(clip.face) == len(clip.audio)):
            raise Dr2Error(f"clip {clip.name}: pose, face and audio have different numbers of frames")
    return kinds.pop() or "unknown"


def data_fingerprint(clips: list[ClipArrays]) -> str:
    digest = hashlib.sha256()
    for clip in clips:
        digest.update(clip.name.encode() + b"\0")
        for array in (clip.pose, clip.face, clip.audio):
            digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        if clip.cuts:  # the windows depend on the shots; clips without cuts keep their old fingerprint
            digest.update(np.asarray(clip.cuts, np.int64).tobytes())
    return digest.hexdigest()


STEP_STREAM, EPOCH_STREAM = 0, 1


def step_generator(seed: int, step: int, rank: int = 0, stream: int = STEP_STREAM) -> torch.Generator:
    """The random stream of one training step: a pure function of (seed, step, rank), so resume is exact."""
    state = np.random.SeedSequence([seed, stream, step, rank]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed((int(state[0]) << 32 | int(state[1])) & (2**63 - 1))


def epoch_order(seed: int, epoch: int, count: int, global_batch: int) -> torch.Tensor:
    """Shuffled paired-window indices of one epoch, repeated when there are fewer windows than a batch."""
    order = torch.randperm(count, generator=step_generator(seed, epoch, stream=EPOCH_STREAM))
    if count < global_batch:
        order = order.repeat(math.ceil(global_batch / count))
    return order


@dataclass
class _Distributed:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: str) -> tuple[_Distributed, str]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Distributed(), device
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    initialised = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
        initialised = True
    return _Distributed(dist.get_world_size(), dist.get_rank(), local_rank, initialised), device


def _amp(device: str, enabled: bool):
    """(autocast context, GradScaler or None) for mixed precision on CUDA; nothing on CPU."""
    if not (enabled and device.startswith("cuda")):
        return nullcontext(), None
    if torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16), None
    return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


@dataclass
class _TrainingData:
    """The encoded clips a run learns from, with what the model directory records about them."""

    clips: list[ClipArrays]
    codecs: Codecs | None
    kind: str
    description: dict
    body_model: str | None
    windows: GestureWindows
    fingerprint: str


def train_model(
    clips: list,
    out_dir: Path,
    settings: TrainSettings = TrainSettings(),
    device: str = "cpu",
    codecs: Codecs | None = None,
    force: bool = False,
) -> TrainResult:
    """Train on `clips` (prepared clip directories, or `ClipArrays` with their `codecs`) into `out_dir`.

    Resumes from a checkpoint in `out_dir` when the data and trajectory
    settings match (`force` starts over). Returns the loss history and
    throughput; the model directory is what `checkpoint.load_model` reads.
    """
    out_dir = Path(out_dir)
    data = _training_data(clips, codecs, settings)
    dist_info, device = _setup_distributed(device)
    busy = f"{out_dir} is being trained by another dr2 run (pid {{pid}}); wait for it to finish, or use another --out"
    try:
        with model_dir_lock(out_dir, busy) if dist_info.main else nullcontext():
            return _train(data, out_dir, settings, device, dist_info, force)
    except OSError as error:
        problem = storage_error(error, out_dir, "--out")
        if problem is None:
            raise
        raise problem from None
    finally:
        if dist_info.initialised_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def _training_data(clips: list, codecs: Codecs | None, settings: TrainSettings) -> _TrainingData:
    """Clip directories are read and encoded here; already-encoded `ClipArrays` are checked and used as given."""
    if clips and all(isinstance(c, ClipArrays) for c in clips):
        kind = check_clip_arrays(clips)
        description, body_model = {}, None
        if codecs is not None and not codecs.clips and all(c.identity is not None for c in clips):
            codecs.clips = [c.identity for c in clips]
    else:
        body_model = fitted_body_model([Path(c) for c in clips])
        clips, codecs, kind, description = load_training_clips([Path(c) for c in clips], settings)
        check_clip_arrays(clips)
    if settings.sigma < 0 or settings.batch_size < 1 or settings.window_stride < 1:
        raise Dr2Error("sigma must be ≥ 0, batch size and window stride ≥ 1")
    windows = GestureWindows(clips, WINDOW, settings.window_stride)
    return _TrainingData(clips, codecs, kind, description, body_model, windows, data_fingerprint(clips))


@dataclass
class _Run:
    """The state one training run carries from step to step (one per process under DDP)."""

    data: _TrainingData
    out_dir: Path
    settings: TrainSettings
    device: str
    dist: _Distributed
    network: Audio2Gestures  # the weights that are saved
    model: torch.nn.Module  # what the step calls: the network, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    autocast: object
    scaler: object | None
    global_batch: int
    steps_per_epoch: int
    total_steps: int
    start_step: int
    writer: object | None = None  # TensorBoard, on the main process only
    history: list[tuple[int, float]] = field(default_factory=list)
    running: float = 0.0  # sum of the losses since the last log point
    running_count: int = 0


def _train(data: _TrainingData, out_dir: Path, settings: TrainSettings, device: str, dist_info: _Distributed,
           force: bool) -> TrainResult:
    """Build the run, then step it from its start (0 or the checkpoint's step) to its end."""
    run = _start_run(data, out_dir, settings, device, dist_info, force)
    if run.start_step >= run.total_steps and run.start_step > 0:
        say(f"train: {out_dir} is already trained to step {run.start_step}; use --force to start over")
        return TrainResult(out_dir, run.start_step, run.start_step / run.steps_per_epoch, None, [], None,
                           run.start_step, data.kind)
    run.model = _distributed_model(run.network, device, dist_info)
    if dist_info.main:
        run.writer = _open_log(out_dir, run.start_step)

    run.network.train()
    interrupt = InterruptAtStepBoundary()
    started = time.perf_counter()
    bar = progress_bar(range(run.start_step, run.total_steps), desc="train", total=run.total_steps,
                       initial=run.start_step, disable=None if dist_info.main else True)
    try:
        for step in bar:
            value, terms = _training_step(run, step)
            done = step + 1
            if dist_info.main:
                bar.set_postfix(loss=f"{value:.4f}", epoch=f"{done / run.steps_per_epoch:.1f}")
                _log_step(run, done, value, terms)
                if done % settings.checkpoint_every == 0 or done == run.total_steps or interrupt.requested:
                    _save(run, done)
            if interrupt.requested:  # Ctrl-C waits for the step to end: the state saved is a step boundary's
                raise KeyboardInterrupt
    finally:
        interrupt.restore()
        bar.close()
        if run.writer is not None:
            run.writer.close()
    elapsed = time.perf_counter() - started
    rate = (run.total_steps - run.start_step) * run.global_batch / elapsed if elapsed > 0 else None
    final = run.history[-1][1] if run.history else None
    return TrainResult(out_dir, run.total_steps, run.total_steps / run.steps_per_epoch, final, run.history, rate,
                       run.start_step, data.kind)


def _start_run(data: _TrainingData, out_dir: Path, settings: TrainSettings, device: str, dist_info: _Distributed,
               force: bool) -> _Run:
    """A fresh network and optimizer seeded from `settings.seed`, loaded from the checkpoint when resuming."""
    pose_dim = data.clips[0].pose.shape[1]
    extra_translation = bool(data.codecs.standing) if data.codecs is not None else pose_dim == 62
    net_config = NetworkConfig(extra_translation=extra_translation, relative_pose=settings.relative_pose)
    if net_config.pose_dim != pose_dim:
        raise Dr2Error(f"the clips' pose state has {pose_dim} values; the network expects {net_config.pose_dim}")

    torch.manual_seed(settings.seed)
    network = Audio2Gestures(net_config).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    autocast, scaler = _amp(device, settings.amp)

    global_batch = settings.batch_size * dist_info.world_size
    steps_per_epoch = max(1, len(data.windows) // global_batch)
    total_steps = settings.epochs * steps_per_epoch if settings.max_steps is None else settings.max_steps
    start_step = _resume(out_dir, network, optimizer, scaler, settings, data.fingerprint, force)
    return _Run(data, out_dir, settings, device, dist_info, network, network, optimizer, autocast, scaler,
                global_batch, steps_per_epoch, total_steps, start_step)


def _distributed_model(network: Audio2Gestures, device: str, dist_info: _Distributed) -> torch.nn.Module:
    """The network itself, or wrapped for DistributedDataParallel when several processes train."""
    if dist_info.world_size <= 1:
        return network
    from torch.nn.parallel import DistributedDataParallel

    if device.startswith("cuda"):
        synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(network)
        return DistributedDataParallel(synced, device_ids=[dist_info.local_rank])
    return DistributedDataParallel(network)


def _open_log(out_dir: Path, start_step: int):
    """The TensorBoard writer; a fresh run's curves replace an old run's, a resumed run's continue them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if start_step == 0:
        shutil.rmtree(out_dir / LOGS, ignore_errors=True)
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(out_dir / LOGS), purge_step=start_step)


def _training_step(run: _Run, step: int) -> tuple[float, dict]:
    """One optimizer step on this process's share of the step's batch; returns (total loss, loss terms).

    The windows and the noise come from generators seeded by (seed, step, rank),
    so a resumed run continues exactly as the uninterrupted one would.
    """
    settings, windows, device = run.settings, run.data.windows, run.device
    epoch, index = divmod(step, run.steps_per_epoch)
    order = epoch_order(settings.seed, epoch, len(windows), run.global_batch)
    first = index * run.global_batch + run.dist.rank * settings.batch_size
    paired = order[first:first + settings.batch_size]
    generator = step_generator(settings.seed, step, run.dist.rank)
    unpaired = torch.randint(len(windows.bank_starts), (len(paired),), generator=generator)
    batch = windows.batch(paired, unpaired)
    target_x, initial_x, _ = add_state_noise(batch["pose"], settings.sigma, generator, settings.noise_range)
    target_y, initial_y, _ = add_state_noise(batch["pose_unpaired"], settings.sigma, generator, settings.noise_range)
    audio = batch["audio"].to(device, non_blocking=True)
    face = batch["face"].to(device, non_blocking=True)
    target_x, target_y = target_x.to(device), target_y.to(device)
    initial = torch.stack([initial_x, initial_y], dim=1).to(device)

    with run.autocast:
        pred_pose, pred_face = run.model(audio, initial)
    pred_pose, pred_face = pred_pose.float(), pred_face.float()
    loss, terms = gesture_losses(pred_pose[:, 0], pred_face[:, 0], target_x, face,
                                 pred_pose[:, 1], pred_face[:, 1], target_y,
                                 settings.loss, settings.noise_range, batch["valid"].to(device))
    run.optimizer.zero_grad(set_to_none=True)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        loss.backward()
        run.optimizer.step()

    value = float(loss.detach())
    if not math.isfinite(value):
        raise Dr2Error(f"training diverged at step {step} (loss {value}); "
                       f"lower the learning rate (--learning-rate) or check the clips' fits")
    run.running += value
    run.running_count += 1
    return value, terms


def _log_step(run: _Run, done: int, value: float, terms: dict) -> None:
    """Every `log_every` steps (and at the end): a history point and the TensorBoard scalars."""
    if done % run.settings.log_every != 0 and done != run.total_steps:
        return
    run.history.append((done, run.running / run.running_count))
    run.running, run.running_count = 0.0, 0
    run.writer.add_scalar("loss/total", value, done)
    for name, term in terms.items():
        run.writer.add_scalar(f"loss/{name}", float(term), done)


def _save(run: _Run, at_step: int) -> None:
    """Write the checkpoint of `at_step`: weights, codecs, the pose bank, config and optimizer state."""
    data = run.data
    bank_clip = torch.from_numpy(np.concatenate([np.full(len(c), i) for i, c in enumerate(data.clips)]))
    config = {
        "feature_kind": data.kind,
        "feature_description": data.description,
        "fps": FPS,
        "window": WINDOW,
        "clips": [c.name for c in data.clips],
        "body_model": data.body_model,
        "frames": [len(c) for c in data.clips],
        "data_fingerprint": data.fingerprint,
        "settings": asdict(run.settings),
        "trajectory": run.settings.trajectory_key(),
        "steps_per_epoch": run.steps_per_epoch,
        "step": at_step,
        "epoch": at_step / run.steps_per_epoch,
        "loss_history": run.history[-200:],
    }
    training_state = {"optimizer": run.optimizer.state_dict(), "scaler": run.scaler.state_dict() if run.scaler else {}}
    save_checkpoint(run.out_dir, run.network, data.codecs, data.windows.pose, bank_clip, config, training_state)
    run.writer.flush()


def _resume(out_dir, network, optimizer, scaler, settings, fingerprint, force) -> int:
    """Load the checkpoint in out_dir when it continues this run; returns the step to start from."""
    if force or not has_checkpoint(out_dir):
        return 0
    config = read_config(out_dir)
    if config.get("data_fingerprint") != fingerprint:
        raise Dr2Error(f"{out_dir} holds a model trained on other data; use --force to overwrite it or another --out")
    trajectory = {"audio_channels": "all", **config.get("trajectory", {})}  # runs from before the choice heard all
    if trajectory != settings.trajectory_key():
        changed = sorted(k for k, v in settings.trajectory_key().items() if trajectory.get(k) != v)
        raise Dr2Error(f"{out_dir} was trained with other settings ({', '.join(changed)}); "
                       f"use --force to start over or another --out")
    step = int(config["step"])
    network.load_state_dict(load_tensors(out_dir / WEIGHTS, step))
    state = load_training_state(out_dir, step)
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    say(f"train: resuming {out_dir} from step {step}")
    return step
