"""`dr2 synth` and `dr2 eval` through the real entry point: their outputs, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import shutil
import wave

import numpy as np
import pytest

from dr2model.checkpoint import CONFIG
from dr2model.synthesis import load_sample
from dr2model.train import fitted_body_model
from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import probe
from dr2prep.stage import StageSpec, run_stage
from tests.cli_runner import assert_one_line_error, run_dr2
from tests.model.tiny_model import speech_wav

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # the tiny model gains nothing from more on a shared machine


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return speech_wav(tmp_path_factory.mktemp("cli_speech") / "talk.wav", 2.0, seed=5)


@pytest.mark.slow
def test_synth_writes_parameters_and_a_grid_preview(model_dir, speech, tmp_path):
    out = tmp_path / "out"
    result = run_dr2("synth", speech, "--model", model_dir, "--out", out, "--num-samples", 2, "--seed", 3, "--grid",
                     "--renderer", "builtin", check=True, env=ONE_THREAD)
    printed = result.stdout.split()
    assert printed == [str(out / "talk_seed3.npz"), str(out / "talk_grid.mp4"), str(out / "talk_seed4.npz")]
    first, second = load_sample(out / "talk_seed3.npz"), load_sample(out / "talk_seed4.npz")
    assert len(first["body_pose"]) == 60 and not np.allclose(first["body_pose"], second["body_pose"])
    video = probe(out / "talk_grid.mp4")
    assert video.has_audio and abs(video.duration - 2.0) < 0.1 and video.width == 2 * video.height


def middle_frame(video_path) -> np.ndarray:
    import cv2

    capture = cv2.VideoCapture(str(video_path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 30)
    ok, frame = capture.read()
    capture.release()
    assert ok, video_path
    return frame.astype(np.int16)


@pytest.mark.slow
def test_synth_look_wooden_draws_the_plain_mannequin(model_dir, speech, tmp_path):
    frames = {}
    for look in ("person", "wooden"):
        out = tmp_path / look
        run_dr2("synth", speech, "--model", model_dir, "--out", out, "--seed", 3, "--renderer", "builtin",
                "--look", look, check=True, env=ONE_THREAD)
        frames[look] = middle_frame(out / "talk_seed3.mp4")
    background = np.median(frames["wooden"].reshape(-1, 3), axis=0)
    body = np.abs(frames["wooden"] - background).sum(axis=-1) > 30
    assert body.mean() > 0.05  # the mannequin is drawn
    # The same pose, dressed or not: the body's pixels differ (the person has a vest, sleeves, skin and a face).
    assert np.abs(frames["person"] - frames["wooden"]).sum(axis=-1)[body].mean() > 40
    refused = run_dr2("synth", speech, "--model", model_dir, "--look", "marble")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "Invalid value for '--look': 'marble' is not one of 'person', 'wooden'" in refused.stderr


def test_synth_low_pass_option_reaches_the_samples(model_dir, speech, tmp_path):
    from dr2model.synthesis import LOW_PASS_HZ

    for hz in (None, 0):
        option = [] if hz is None else ["--low-pass-hz", hz]
        run_dr2("synth", speech, "--model", model_dir, "--out", tmp_path / str(hz), "--seed", 3, "--no-preview",
                *option, check=True, env=ONE_THREAD)
    default_info = json.loads((tmp_path / "None" / "talk_seed3.json").read_text())
    raw_info = json.loads((tmp_path / "0" / "talk_seed3.json").read_text())
    assert default_info["low_pass_hz"] == LOW_PASS_HZ and raw_info["low_pass_hz"] == 0
    kept, raw = load_sample(tmp_path / "None" / "talk_seed3.npz"), load_sample(tmp_path / "0" / "talk_seed3.npz")
    jerk = [np.abs(np.diff(p["body_pose"], 3, axis=0)).mean() for p in (kept, raw)]
    assert jerk[0] < 0.9 * jerk[1], jerk  # the default's fast part is cut; 0 writes the network's output as is
    refused = run_dr2("synth", speech, "--model", model_dir, "--low-pass-hz", 15)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr and "--low-pass-hz" in refused.stderr


@pytest.mark.slow
def test_eval_prints_the_table_and_writes_json(model_dir, speech, tmp_path):
    result = run_dr2("eval", "--model", model_dir, "--audio", speech, "--num-samples", 2, "--json", tmp_path / "e.json",
                     check=True, env=ONE_THREAD)
    report = json.loads((tmp_path / "e.json").read_text())
    (row,) = report["gestures"]
    assert row["input"] == "talk.wav" and row["frames"] == 60 and row["diversity_mm"] > 0
    assert "talk.wav" in result.stdout and "BC" in result.stdout


def test_synth_errors_are_one_line(model_dir, speech, tmp_path):
    click = tmp_path / "click.wav"
    with wave.open(str(click), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(100, "<i2").tobytes())
    assert_one_line_error(run_dr2("synth", click, "--model", model_dir, "--out", tmp_path / "o", "--no-preview",
                                  env=ONE_THREAD), "shorter than one")
    assert_one_line_error(run_dr2("synth", tmp_path / "missing.wav", "--model", model_dir, env=ONE_THREAD),
                          "missing.wav")
    assert_one_line_error(run_dr2("synth", speech, "--model", tmp_path / "no-model", env=ONE_THREAD), "no-model")
    assert_one_line_error(run_dr2("eval", env=ONE_THREAD), "nothing to evaluate")


def test_synth_refuses_another_body_model(model_dir, speech, tmp_path):
    other = tmp_path / "model"
    shutil.copytree(model_dir, other)
    config = json.loads((other / CONFIG).read_text())
    config["body_model"] = "f" * 64  # trained on clips fitted with some other SMPL-X file
    (other / CONFIG).write_text(json.dumps(config))
    result = run_dr2("synth", speech, "--model", other, "--out", tmp_path / "o", "--renderer", "builtin",
                     env=ONE_THREAD)
    assert_one_line_error(result, "another body model", "--smplx-model")
    assert not (tmp_path / "o" / "talk_seed0.npz").exists()


def _fitted_clip(workspace, name: str, body_fingerprint: str):
    clip_dir = workspace / name

    def build(partial):
        (partial / "smplx").mkdir(parents=True)
        (partial / "smplx" / "params.npz").write_bytes(b"")
        return {}

    run_stage(clip_dir, StageSpec("smplx", "test", ("smplx/params.npz",)), {"body_model": body_fingerprint}, None,
              build)
    return clip_dir


def test_training_records_the_fitted_body_model(tmp_path):
    a, b = _fitted_clip(tmp_path, "a", "open-1"), _fitted_clip(tmp_path, "b", "open-1")
    assert fitted_body_model([a, b]) == "open-1"
    c = _fitted_clip(tmp_path, "c", "smplx-2")
    with pytest.raises(Dr2Error, match="different body models"):
        fitted_body_model([a, c])
