"""`dr2 train --audio-features`: the option the library's message names when clips hold several feature kinds."""

from __future__ import annotations

import json
import os

from tests.cli_runner import assert_one_line_error, run_dr2
from tests.model.synthetic import prepared_clip

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_train_picks_the_feature_kind_the_message_names(tmp_path):
    clip = prepared_clip(tmp_path / "work", "both", kinds=("deepspeech", "builtin"))
    ask = run_dr2("train", "--clips", clip, "--out", tmp_path / "m", "--max-steps", 1, env=ONE_THREAD)
    assert_one_line_error(ask, "choose one with --audio-features")
    run_dr2("train", "--clips", clip, "--out", tmp_path / "m", "--max-steps", 1, "--batch-size", 2,
            "--audio-features", "builtin", check=True, env=ONE_THREAD)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["feature_kind"] == "builtin"


def test_train_audio_channels_reach_the_saved_model(tmp_path):
    """`--audio-channels prosody` lets the network hear only the prosody of the built-in features; the default
    hears every channel, and the saved codecs say which (synthesis reads audio through them)."""
    from safetensors.numpy import load_file

    from dr2prep.audio.builtin_features import CHANNELS

    clip = prepared_clip(tmp_path / "work", "c", features_info={"kind": "builtin", "dim": 29,
                                                                "channels": list(CHANNELS)})
    for choice, out in ((None, "default"), ("prosody", "prosody")):
        options = () if choice is None else ("--audio-channels", choice)
        run_dr2("train", "--clips", clip, "--out", tmp_path / out, "--max-steps", 1, "--batch-size", 2, *options,
                check=True, env=ONE_THREAD)
    config = json.loads((tmp_path / "prosody" / "config.json").read_text())
    assert config["settings"]["audio_channels"] == "prosody"
    assert "audio.heard" not in load_file(tmp_path / "default" / "codecs.safetensors")
    heard = load_file(tmp_path / "prosody" / "codecs.safetensors")["audio.heard"]
    assert [name for name, on in zip(CHANNELS, heard) if on] == ["energy", "delta_energy", "voicing", "pitch", "onset"]
