"""Issue 16 (model side): model-directory lock, exact resume after Ctrl-C, --max-steps, damaged clips,
full or unwritable --out, the hostile SMPL-X file in a synth preview, same-stem speech files."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dr2model import checkpoint as checkpoint_module
from dr2model import train as train_module
from dr2model.checkpoint import CONFIG, WEIGHTS, model_dir_lock
from dr2model.train import TrainSettings, train_model
from dr2prep.bodymodel.synthetic_smplx import synthetic_smplx_arrays
from dr2common.errors import Dr2Error
from dr2common.progress import set_quiet
from dr2prep.stage import sha256_file
from tests.cli_runner import assert_one_line_error, run_dr2
from tests.model.synthetic import learnable_clip, prepared_clip
from tests.model.tiny_model import speech_wav
from tests.prep.test_hardening import _object_npy

pytestmark = pytest.mark.slow  # trainings and CLI runs of several seconds each

TINY = TrainSettings(batch_size=2, learning_rate=1e-3, window_stride=8, log_every=1, checkpoint_every=1000)
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def quiet():
    set_quiet(True)
    yield
    set_quiet(False)


def _state(model_dir):
    return load_file(str(model_dir / WEIGHTS))


# --- 5. training state ------------------------------------------------------------------------------------------

def test_ctrl_c_mid_step_resumes_to_the_uninterrupted_model(tmp_path, monkeypatch):
    """SIGINT arrives inside step 3's loss (after its forward pass moved BatchNorm's statistics): the state
    saved is that after step 3 finished, and resuming gives bit-identical weights, BatchNorm counters included."""
    clip = learnable_clip(180)
    settings = TrainSettings(**{**TINY.__dict__, "max_steps": 6})
    train_model([clip], tmp_path / "straight", settings)
    # Python's own Ctrl-C handler, as in a terminal (a script's background job starts with SIGINT ignored)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_and_resume(clip, settings, tmp_path, monkeypatch)
    finally:
        signal.signal(signal.SIGINT, outer)


def test_an_ignored_ctrl_c_stays_ignored_during_training(tmp_path):
    outer = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = train_model([learnable_clip(180)], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 1}))
        assert result.steps == 1
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, outer)


def _interrupt_and_resume(clip, settings, tmp_path, monkeypatch):
    real_losses, calls = train_module.gesture_losses, []

    def interrupted_losses(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, mid-step
        return real_losses(*args, **kwargs)

    monkeypatch.setattr(train_module, "gesture_losses", interrupted_losses)
    with pytest.raises(KeyboardInterrupt):
        train_model([clip], tmp_path / "resumed", settings)
    assert json.loads((tmp_path / "resumed" / CONFIG).read_text())["step"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    monkeypatch.setattr(train_module, "gesture_losses", real_losses)
    result = train_model([clip], tmp_path / "resumed", settings)
    assert result.resumed_from == 3
    straight, resumed = _state(tmp_path / "straight"), _state(tmp_path / "resumed")
    assert any("num_batches_tracked" in name for name in straight)
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


def test_max_steps_overrides_epochs(tmp_path):
    clip = learnable_clip(180)  # 8 windows at stride 8: 4 steps per epoch at batch 2
    result = train_model([clip], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "epochs": 1, "max_steps": 7}))
    assert result.steps == 7
    assert json.loads((tmp_path / "m" / CONFIG).read_text())["step"] == 7


def test_a_second_training_into_the_same_out_fails_at_once(tmp_path):
    workspace = tmp_path / "ws"
    clip = prepared_clip(workspace, "c", frames=160)
    out = tmp_path / "model"
    with model_dir_lock(out, "busy {pid}"):  # another `dr2 train` holds it
        result = run_dr2("train", "--clips", clip, "--out", out, "--max-steps", 1, env=ONE_THREAD)
    assert_one_line_error(result, "is being trained by another dr2 run", "--out")
    assert not (out / CONFIG).exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_full_or_unwritable_out_is_one_line_and_leaves_no_staging(tmp_path, monkeypatch, code):
    """Injected in the checkpoint writer (tests run as root, where chmod does not stop writes)."""

    def failing_save(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(checkpoint_module, "save_file", failing_save)
    expected = {errno.ENOSPC: "no space left on the device", errno.EROFS: "read-only file system",
                errno.EACCES: "permission denied"}[code]
    with pytest.raises(Dr2Error, match=expected):
        train_model([learnable_clip(160)], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 1}))
    assert not any(p.name.startswith(".staging") for p in (tmp_path / "m").iterdir())


def test_out_under_a_file_is_one_line(tmp_path):
    clip = prepared_clip(tmp_path / "ws", "c", frames=160)
    (tmp_path / "file").write_text("x")
    result = run_dr2("train", "--clips", clip, "--out", tmp_path / "file" / "model", "--max-steps", 1,
                     env=ONE_THREAD)
    assert_one_line_error(result, "not a directory", "--out")


# --- 3. damaged clips refused by train and eval -----------------------------------------------------------------

@pytest.mark.parametrize(("target", "damage"), [
    ("smplx/params.npz", "truncate"), ("smplx/params.npz", "garbage"), ("smplx/params.npz", "delete"),
    ("audio_features/builtin.npy", "truncate"), ("audio_features/builtin.npy", "garbage"),
])
def test_train_and_eval_refuse_a_damaged_clip_naming_the_fix(tmp_path, target, damage):
    workspace = tmp_path / "ws"
    good, bad = prepared_clip(workspace, "good", frames=160), prepared_clip(workspace, "bad", frames=160, seed=1)
    path = bad / target
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(len(data)))
    else:
        path.unlink()
    result = run_dr2("train", "--clips", good, "--clips", bad, "--out", tmp_path / "m", "--max-steps", 1,
                     env=ONE_THREAD)
    assert_one_line_error(result, "clip bad:", "is damaged", target, f"dr2 --workspace {workspace} prep")
    assert not (tmp_path / "m" / CONFIG).exists()
    assert_one_line_error(run_dr2("eval", "--clips", bad, env=ONE_THREAD), "clip bad:", "is damaged", target)


# --- 1. a hostile SMPL-X file in the synth preview --------------------------------------------------------------

def test_hostile_smplx_model_never_runs_its_pickle_in_a_synth_preview(model_dir, tmp_path):
    marker = tmp_path / "unpickled"
    smplx_file = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(smplx_file, **synthetic_smplx_arrays(seed=3, shape_space=20))
    with zipfile.ZipFile(smplx_file, "a") as archive:
        archive.writestr("part2num", _object_npy(marker))  # not ending in .npy: numpy reads it all the same
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    config = json.loads((model / CONFIG).read_text())
    config["body_model"] = sha256_file(smplx_file)  # as if trained on clips fitted with this file
    (model / CONFIG).write_text(json.dumps(config))
    speech = speech_wav(tmp_path / "talk.wav", 1.0, seed=5)
    result = run_dr2("synth", speech, "--model", model, "--out", tmp_path / "o", "--smplx-model", smplx_file,
                     "--renderer", "builtin", env={**ONE_THREAD, "DR2_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "talk_seed0.mp4").is_file()
    assert not marker.exists()


# --- 8. two speech files with the same stem into one --out ------------------------------------------------------

def test_same_stem_speech_files_do_not_overwrite_each_other(model_dir, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = speech_wav(tmp_path / "a" / "speech.wav", 1.0, seed=5)
    second = speech_wav(tmp_path / "b" / "speech.wav", 1.2, seed=6)
    out = tmp_path / "out"
    run_dr2("synth", first, "--model", model_dir, "--out", out, "--no-preview", env=ONE_THREAD, check=True)
    written = (out / "speech_seed0.npz").read_bytes()
    assert_one_line_error(run_dr2("synth", second, "--model", model_dir, "--out", out, "--no-preview",
                                  env=ONE_THREAD), "already holds gestures for", "another --out")
    assert (out / "speech_seed0.npz").read_bytes() == written
    # the same file again is a plain re-run
    run_dr2("synth", first, "--model", model_dir, "--out", out, "--no-preview", env=ONE_THREAD, check=True)
