"""`import dr2` does what the CLI does: same arrays for the same seed, one model load for many syntheses.

Runs on generated inputs: the tiny trained model and speech clips of
tests/model/tiny_model.py, and ffmpeg test-pattern videos (tests/conftest.py).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import dr2
from dr2model.synthesis import SMPLX_KEYS, load_sample
from dr2prep.audio.reading import load_audio
from dr2common.progress import set_quiet
from tests.cli_runner import run_dr2
from tests.model.tiny_model import single_thread, speech_clip, speech_wav, tiny_model

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.getbasetemp() / "tiny_model")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return speech_wav(tmp_path_factory.mktemp("api_speech") / "talk.wav", 2.0, seed=5)


@pytest.fixture
def quiet():
    set_quiet(True)
    with single_thread():
        yield
    set_quiet(False)


def assert_same_params(a: dict, b: dict) -> None:
    assert set(a) == set(b) == set(SMPLX_KEYS)
    for key in SMPLX_KEYS:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_model_synthesize_equals_dr2_synth(model_dir, speech, tmp_path, quiet):
    """Same seed, same speech: the in-memory samples (from the file and from its waveform) are `dr2 synth`'s files."""
    run_dr2("synth", speech, "--model", model_dir, "--out", tmp_path / "cli", "--num-samples", 2, "--seed", 3,
            "--no-preview", check=True, env=ONE_THREAD)
    model = dr2.load_model(model_dir)
    from_file = model.synthesize(speech, num_samples=2, seed=3)
    from_wave = model.synthesize(load_audio(speech), num_samples=2, seed=3)
    assert [s.seed for s in from_file] == [3, 4] and from_file[0].frames == 60 and from_wave[0].speech is None
    for k, seed in enumerate((3, 4)):
        cli_params = load_sample(tmp_path / "cli" / f"talk_seed{seed}.npz")
        assert_same_params(from_file[k].params, cli_params)
        assert_same_params(from_wave[k].params, cli_params)
    assert not np.allclose(from_file[0].params["body_pose"], from_file[1].params["body_pose"])

    saved = model.save(from_file, tmp_path / "api")
    assert [p.name for p in saved] == ["talk_seed3.npz", "talk_seed4.npz"]
    for path in saved:
        assert_same_params(load_sample(path), load_sample(tmp_path / "cli" / path.name))
        cli_info = json.loads((tmp_path / "cli" / path.with_suffix(".json").name).read_text())
        assert json.loads(path.with_suffix(".json").read_text()) == cli_info
    assert model.save(from_wave[:1], tmp_path / "wave")[0].name == "speech_seed3.npz"


def test_a_second_synthesize_does_not_reload_the_model(model_dir, speech, monkeypatch, quiet):
    import dr2model.checkpoint
    import dr2model.synthesis
    import dr2prep.audio.extractor

    model = dr2.load_model(model_dir, device="cpu")
    network = model.loaded.network

    def no_reload(*args, **kwargs):
        raise AssertionError("the model was loaded again")

    monkeypatch.setattr(dr2model.checkpoint, "load_model", no_reload)
    monkeypatch.setattr(dr2model.synthesis, "load_model", no_reload)
    first = model.synthesize(speech, seed=7)
    extractor = model.feature_extractor()
    monkeypatch.setattr(dr2prep.audio.extractor, "make_extractor", no_reload)  # nor the audio feature extractor
    monkeypatch.setattr(dr2model.synthesis, "make_extractor", no_reload)
    second = model.synthesize(speech, seed=7)
    assert model.loaded.network is network and model.feature_extractor() is extractor
    assert_same_params(first[0].params, second[0].params)


def test_export_and_evaluate_equal_the_cli(model_dir, speech, tmp_path, quiet):
    model = dr2.load_model(model_dir)
    (path,) = model.save(model.synthesize(speech, seed=1), tmp_path)
    api = dr2.export(path, "bvh", tmp_path / "api.bvh")
    run_dr2("export", path, "--format", "bvh", "--out", tmp_path / "cli.bvh", check=True, env=ONE_THREAD)
    assert api == {"bvh": tmp_path / "api.bvh"}
    assert api["bvh"].read_text() == (tmp_path / "cli.bvh").read_text()


def test_train_equals_dr2_train(tmp_path, quiet):
    """A few steps through `dr2.train` and through `dr2 train`: the same weights (CPU, one thread, same seed)."""
    clip = speech_clip(tmp_path / "work", "clip_t", seconds=5.0, seed=4)
    options = ("--max-steps", 2, "--batch-size", 2, "--seed", 1)
    run_dr2("train", "--clips", clip, "--out", tmp_path / "cli_model", *options, check=True, env=ONE_THREAD)
    result = dr2.train([clip], tmp_path / "api_model", max_steps=2, batch_size=2, seed=1)
    assert result.model_dir == tmp_path / "api_model" and result.steps == 2
    api, cli = dr2.load_model(result.model_dir), dr2.load_model(tmp_path / "cli_model")
    api_weights, cli_weights = api.loaded.network.state_dict(), cli.loaded.network.state_dict()
    assert api_weights.keys() == cli_weights.keys()
    for name in api_weights:
        assert bool((api_weights[name] == cli_weights[name]).all()), name


def test_prepare_one_and_many(make_video, tmp_path, quiet):
    """`dr2.prepare` and `dr2.prepare_many` run prep's stages (here: media) as `dr2 prep` does."""
    one, two = make_video(1.0), make_video(1.0)
    clip_dir = dr2.prepare(one, tmp_path / "ws", until="media")
    assert clip_dir == tmp_path / "ws" / one.stem
    assert json.loads((clip_dir / "clip.json").read_text())["frames"] == 30
    run_dr2("prep", one, "--until", "media", workspace=tmp_path / "cli_ws", check=True)
    frames = sorted(p.name for p in (clip_dir / "frames").iterdir())
    assert frames == sorted(p.name for p in (tmp_path / "cli_ws" / one.stem / "frames").iterdir())

    results = dr2.prepare_many([one, two], tmp_path / "ws", until="media")
    assert [(r.clip, r.stages_done, r.error) for r in results] == [(one.stem, ("media",), None),
                                                                  (two.stem, ("media",), None)]
    assert "2 of 2 videos prepared" in dr2.summary_table(results, until="media")
    empty_shard = "1/3"  # two videos: the first of three slices holds none
    assert dr2.prepare_many([one, two], tmp_path / "ws", shard=empty_shard, until="media") == []


def test_dr2_defaults_are_the_clis(monkeypatch, tmp_path):
    """Device auto and the feature kind from $DR2_DEEPSPEECH_GRAPH are decided in the library."""
    import torch

    assert dr2.resolve_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.delenv("DR2_DEEPSPEECH_GRAPH", raising=False)
    assert dr2.audio_feature_settings().kind == "builtin"
    graph = tmp_path / "output_graph.pb"
    monkeypatch.setenv("DR2_DEEPSPEECH_GRAPH", str(graph))
    settings = dr2.audio_feature_settings()
    assert (settings.kind, settings.deepspeech_graph) == ("deepspeech", str(graph))
    assert dr2.audio_feature_settings("builtin").kind == "builtin"
