"""Training: the loss falls, checkpoints round-trip, resume continues identically, DDP under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dr2model.checkpoint import CONFIG, TRAINING_STATE, WEIGHTS, load_model
from dr2model.losses import LossWeights
from dr2model.network import Audio2Gestures, NetworkConfig
from dr2model.train import TrainSettings, train_model
from dr2common.errors import Dr2Error
from dr2common.progress import set_quiet
from tests.model.synthetic import learnable_clip, prepared_clip, smplx_params

TINY = TrainSettings(batch_size=2, learning_rate=1e-3, window_stride=8, log_every=1, checkpoint_every=1000)


@pytest.fixture(autouse=True)
def quiet():
    set_quiet(True)
    yield
    set_quiet(False)


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / WEIGHTS))


def test_training_loss_decreases(tmp_path):
    settings = TrainSettings(batch_size=4, learning_rate=1e-3, window_stride=4, log_every=10, max_steps=40,
                             sigma=0.1, checkpoint_every=1000,
                             relative_pose=False)  # the relative default: test_one_to_many (learns slower here)
    result = train_model([learnable_clip(200)], tmp_path / "m", settings)
    losses = [loss for _, loss in result.history]
    assert len(losses) == 4
    assert losses[-1] < 0.7 * losses[0], losses


def test_checkpoint_round_trip(tmp_path):
    clip = learnable_clip(160)
    train_model([clip], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 2}))
    config = json.loads((tmp_path / "m" / CONFIG).read_text())
    assert config["step"] == 2 and config["feature_kind"] == "test" and config["window"] == 128
    assert config["settings"]["sigma"] == TINY.sigma and config["network"]["body_dim"] == 35
    loaded = load_model(tmp_path / "m")
    saved = weights(tmp_path / "m")
    for name, value in loaded.network.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert not loaded.network.training
    assert torch.equal(loaded.state_bank, torch.from_numpy(clip.pose))
    # The training state is readable without pickle.
    state = torch.load(tmp_path / "m" / TRAINING_STATE, weights_only=True)
    assert state["step"] == 2 and "optimizer" in state
    # Same inputs, same outputs after loading: the loaded network computes what a network built by hand from
    # the saved weights does, and not what the untrained one (same seed) does.
    audio, initial = torch.from_numpy(clip.audio[None, :128]), torch.from_numpy(clip.pose[None, 0])
    rebuilt = Audio2Gestures(NetworkConfig(**config["network"]))
    rebuilt.load_state_dict(saved)
    torch.manual_seed(TINY.seed)
    untrained = Audio2Gestures(NetworkConfig(**config["network"]))
    with torch.no_grad():
        pose, face = loaded.network(audio, initial)
        expected_pose, expected_face = rebuilt.eval()(audio, initial)
        untrained_pose, _ = untrained.eval()(audio, initial)
    assert pose.shape == (1, 128, 59) and face.shape == (1, 128, 10)
    assert torch.equal(pose, expected_pose) and torch.equal(face, expected_face)
    assert (pose - untrained_pose).abs().max() > 1e-4  # two Adam steps moved the output


def test_resume_gives_identical_continuation(tmp_path):
    clip = learnable_clip(180)
    straight = TrainSettings(**{**TINY.__dict__, "max_steps": 4})
    train_model([clip], tmp_path / "straight", straight)
    train_model([clip], tmp_path / "resumed", TrainSettings(**{**TINY.__dict__, "max_steps": 2}))
    result = train_model([clip], tmp_path / "resumed", straight)
    assert result.resumed_from == 2 and result.steps == 4
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # A finished run is not trained again.
    again = train_model([clip], tmp_path / "resumed", straight)
    assert again.resumed_from == 4 and again.history == []


def test_a_run_from_before_the_audio_channel_choice_resumes(tmp_path):
    """Checkpoints written before `audio_channels` existed heard every channel, as the default does."""
    clip = learnable_clip(160)
    train_model([clip], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 1}))
    config = json.loads((tmp_path / "m" / CONFIG).read_text())
    del config["trajectory"]["audio_channels"]
    (tmp_path / "m" / CONFIG).write_text(json.dumps(config))
    assert train_model([clip], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 2})).resumed_from == 1
    with pytest.raises(Dr2Error, match="other settings \\(audio_channels\\)"):
        train_model([clip], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 3,
                                                             "audio_channels": "prosody"}))


def test_same_seed_same_model_other_seed_differs(tmp_path):
    clip = learnable_clip(160)
    settings = TrainSettings(**{**TINY.__dict__, "max_steps": 1})
    train_model([clip], tmp_path / "a", settings)
    train_model([clip], tmp_path / "b", settings)
    train_model([clip], tmp_path / "c", TrainSettings(**{**settings.__dict__, "seed": 1}))
    a, b, c = (weights(tmp_path / n)["face_decoder.0.weight"] for n in "abc")
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_resume_with_other_settings_or_data_is_refused(tmp_path):
    clip = learnable_clip(160)
    train_model([clip], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 1}))
    with pytest.raises(Dr2Error, match="other settings \\(sigma\\)"):
        train_model([clip], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 2, "sigma": 0.3}))
    with pytest.raises(Dr2Error, match="trained on other data"):
        train_model([learnable_clip(160, seed=1)], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 2}))
    # --force starts over.
    result = train_model([learnable_clip(160, seed=1)], tmp_path / "m",
                         TrainSettings(**{**TINY.__dict__, "max_steps": 1}), force=True)
    assert result.resumed_from == 0


def test_load_model_errors(tmp_path):
    with pytest.raises(Dr2Error, match="not a trained dr2 model"):
        load_model(tmp_path)
    train_model([learnable_clip(160)], tmp_path / "m", TrainSettings(**{**TINY.__dict__, "max_steps": 1}))
    (tmp_path / "m" / WEIGHTS).unlink()
    with pytest.raises(Dr2Error, match="incomplete"):
        load_model(tmp_path / "m")


def test_paired_only_training_runs(tmp_path):
    no_unpaired = LossWeights(unpaired_start=0, unpaired_velocity=0, unpaired_face=0)
    result = train_model([learnable_clip(160)], tmp_path / "m",
                         TrainSettings(**{**TINY.__dict__, "max_steps": 2, "loss": no_unpaired}))
    assert result.steps == 2 and np.isfinite(result.final_loss)


def test_train_from_prepared_clips_and_decode(tmp_path):
    clips = [prepared_clip(tmp_path / "ws", "a", 150, seed=0), prepared_clip(tmp_path / "ws", "b", 140, seed=1)]
    result = train_model(clips, tmp_path / "model", TrainSettings(**{**TINY.__dict__, "max_steps": 2}))
    assert result.feature_kind == "builtin"
    model = load_model(tmp_path / "model")
    assert model.feature_kind == "builtin" and model.config["clips"] == ["a", "b"]
    assert model.state_bank.shape == (290, 59) and model.state_bank_clip.tolist() == [0] * 150 + [1] * 140
    features = np.load(clips[1] / "audio_features" / "builtin.npy")[:128]
    audio = torch.from_numpy(model.codecs.normalise_audio(features))[None]
    with torch.no_grad():
        pose, face = model.network(audio, model.state_bank[:1])
    params = model.codecs.decode(pose[0].numpy(), face[0].numpy(), model.codecs.clips[1])
    assert params["body_pose"].shape == (128, 63) and params["left_hand_pose"].shape == (128, 45)
    assert params["transl"].shape == (128, 3) and params["expression"].shape == (128, 10)
    # What decoding takes from clip b itself: its shape, its fixed orientation, its mean jaw.
    fitted = smplx_params(140, seed=1)
    np.testing.assert_allclose(params["betas"], fitted["betas"], atol=1e-6)
    np.testing.assert_allclose(params["global_orient"], np.tile(fitted["global_orient"][0], (128, 1)), atol=1e-6)
    np.testing.assert_allclose(params["jaw_pose"], np.tile(fitted["jaw_pose"].mean(0), (128, 1)), atol=1e-6)
    np.testing.assert_allclose(params["expression"], face[0].numpy())
    # The saved state bank and codecs decode back to clip b's own poses (its frames follow clip a's 150).
    bank_b = model.codecs.decode(model.state_bank[150:].numpy(), np.zeros((140, 10)), model.codecs.clips[1])
    for key in ("transl", "body_pose", "left_hand_pose", "right_hand_pose"):
        np.testing.assert_allclose(bank_b[key], fitted[key], atol=2e-5, err_msg=key)


DDP_SCRIPT = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {root!r})
    from dr2model.train import TrainSettings, train_model
    from dr2common.progress import set_quiet
    from tests.model.synthetic import learnable_clip
    set_quiet(True)
    settings = TrainSettings(batch_size=2, learning_rate=1e-3, window_stride=8, max_steps=2, log_every=1)
    train_model([learnable_clip(160)], {out!r}, settings, "cpu")
    import torch.distributed as dist
    print("initialised after training:", dist.is_initialized())
""")


@pytest.mark.slow
def test_ddp_under_torchrun_on_cpu(tmp_path):
    """Two gloo processes: one checkpoint, written by rank 0, equal to what rank 1 holds (same gradients)."""
    root = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(root=root, out=str(tmp_path / "ddp")))
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29531", str(script)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    config = json.loads((tmp_path / "ddp" / CONFIG).read_text())
    assert config["step"] == 2
    assert run.stdout.count("initialised after training: False") == 2
