"""The model directory: weights, codecs and state bank as safetensors, config as JSON, resume state.

    <model_dir>/config.json            what the model is (network sizes, feature kind, codecs, settings, step)
    <model_dir>/model.safetensors      network weights
    <model_dir>/codecs.safetensors     body/hand codes, audio normalisation, clip identities
    <model_dir>/state_bank.safetensors training pose states (initial states for synthesis)
    <model_dir>/training_state.pt      optimizer, AMP scaler, step: torch.load(weights_only=True)
    <model_dir>/logs/                  TensorBoard events

Files are replaced through renames with config.json last; every file records
its step, so a crash between renames is detected instead of mixing two steps.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from dr2common.atomic import write_json_atomic
from dr2common.errors import Dr2Error
from dr2common.locking import directory_lock
from dr2model.codecs import Codecs
from dr2model.network import Audio2Gestures, NetworkConfig

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CODECS = "codecs.safetensors"
STATE_BANK = "state_bank.safetensors"
TRAINING_STATE = "training_state.pt"
LOGS = "logs"
MODEL_FORMAT = "dr2-audio2gestures"
FORMAT_VERSION = 1
MODEL_FILES = (CONFIG, WEIGHTS, CODECS, STATE_BANK)


@dataclass
class LoadedModel:
    """A trained model ready for synthesis (network in eval mode)."""

    network: Audio2Gestures
    codecs: Codecs | None  # None: trained on pre-encoded arrays, cannot decode to SMPL-X
    config: dict
    state_bank: torch.Tensor  # (N, D) pose states of the training frames
    state_bank_clip: torch.Tensor  # (N,) index of each frame's clip in codecs.clips

    @property
    def feature_kind(self) -> str:
        return self.config["feature_kind"]


def save_checkpoint(
    model_dir: Path,
    network: Audio2Gestures,
    codecs: Codecs | None,
    state_bank: torch.Tensor,
    state_bank_clip: torch.Tensor,
    config: dict,
    training_state: dict,
) -> None:
    """Write every file of the model directory for the step in `config['step']`.

    `codecs` is None for models trained on pre-encoded arrays (tests,
    benchmarks): they cannot decode to SMPL-X.
    """
    model_dir = Path(model_dir)
    staging = model_dir / f".staging-{os.getpid()}"
    try:
        _save_checkpoint(model_dir, staging, network, codecs, state_bank, state_bank_clip, config, training_state)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # also after a full disk: give the space back


def _save_checkpoint(model_dir, staging, network, codecs, state_bank, state_bank_clip, config, training_state):
    step = int(config["step"])
    meta = {"step": str(step)}
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    save_file(weights, staging / WEIGHTS, metadata=meta)
    codec_meta = None
    if codecs is not None:
        codec_tensors, codec_meta = codecs.to_tensors()
        save_file(codec_tensors, staging / CODECS, metadata=meta)
    save_file({"pose": state_bank.cpu().contiguous(), "clip": state_bank_clip.cpu().contiguous()},
              staging / STATE_BANK, metadata=meta)
    torch.save({**training_state, "step": step}, staging / TRAINING_STATE)
    full_config = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        **config,
        "network": network.config.to_dict(),
        "codecs": codec_meta,
    }
    for name in (WEIGHTS, CODECS, STATE_BANK, TRAINING_STATE):
        if (staging / name).exists():
            os.replace(staging / name, model_dir / name)
    write_json_atomic(model_dir / CONFIG, full_config)


def read_config(model_dir: Path) -> dict:
    path = Path(model_dir) / CONFIG
    if not path.is_file():
        raise Dr2Error(
            f"{model_dir} is not a trained dr2 model (no {CONFIG}); give the --out directory of `dr2 train`"
        )
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise Dr2Error(f"{path} is unreadable ({error}); retrain with `dr2 train --force`") from None
    if config.get("format") != MODEL_FORMAT:
        raise Dr2Error(f"{path} is not a dr2 model config; give the --out directory of `dr2 train`")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise Dr2Error(f"{model_dir} was written by a newer dr2 (format {config['format_version']}); upgrade dr2")
    return config


def load_tensors(path: Path, step: int, device: str = "cpu") -> dict[str, torch.Tensor]:
    """A safetensors file of the model directory, checked to be from `step`."""
    if not path.is_file():
        raise Dr2Error(f"model directory {path.parent} is incomplete ({path.name} missing); retrain with `dr2 train --force`")
    try:
        with safe_open(str(path), framework="pt") as f:
            recorded = (f.metadata() or {}).get("step")
        tensors = load_file(str(path), device=device)
    except (SafetensorError, OSError) as error:
        raise Dr2Error(f"{path} is damaged ({error}); retrain with `dr2 train --force`") from None
    if recorded is not None and int(recorded) != step:
        raise Dr2Error(
            f"{path.name} is from step {recorded} but config.json from step {step} (training was interrupted "
            f"while saving a checkpoint); retrain with `dr2 train --force`"
        )
    return tensors


def load_model(model_dir: Path, device: str = "cpu") -> LoadedModel:
    """The trained network (eval mode, on `device`), its codecs and state bank."""
    model_dir = Path(model_dir)
    config = read_config(model_dir)
    step = int(config["step"])
    network = Audio2Gestures(NetworkConfig(**config["network"]))
    weights = load_tensors(model_dir / WEIGHTS, step)
    try:
        network.load_state_dict(weights)
    except RuntimeError as error:
        raise Dr2Error(f"{model_dir / WEIGHTS} does not match its config.json ({str(error).splitlines()[0]})") from None
    network.to(device).eval()
    codecs = None
    if config.get("codecs") is not None:
        codecs = Codecs.from_tensors(load_tensors(model_dir / CODECS, step), config["codecs"])
    bank = load_tensors(model_dir / STATE_BANK, step)
    return LoadedModel(network, codecs, config, bank["pose"], bank["clip"])


def load_training_state(model_dir: Path, step: int) -> dict:
    """Optimizer/scaler state for resuming; weights_only loading (no pickle)."""
    path = Path(model_dir) / TRAINING_STATE
    if not path.is_file():
        raise Dr2Error(f"{model_dir} has no {TRAINING_STATE} to resume from; use --force to start over")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged or unsafe files
        raise Dr2Error(f"{path} cannot be read safely ({type(error).__name__}); use --force to start over") from None
    if int(state.get("step", -1)) != step:
        raise Dr2Error(f"{path.name} is from step {state.get('step')} but config.json from step {step}; use --force")
    return state


def model_dir_lock(model_dir: Path, busy: str):
    """The lock of a model directory: a second `dr2 train` into the same --out fails at once (see locking)."""
    return directory_lock(model_dir, busy, "--out")


class InterruptAtStepBoundary:
    """Ctrl-C during training is acted on when the current step has finished.

    The step's forward pass has already moved BatchNorm's running statistics
    and counters; saving then would resume to another model than an
    uninterrupted run. The loop checks `requested` after each step, saves and
    stops. A second Ctrl-C stops at once (nothing is saved beyond the last
    checkpoint). Outside the main thread signals cannot be caught, and a
    process started with Ctrl-C ignored (nohup, `&` in a script) keeps
    ignoring it: no effect.
    """

    def __init__(self):
        self.requested = False
        self._previous = None
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def has_checkpoint(model_dir: Path) -> bool:
    return (Path(model_dir) / CONFIG).is_file()
