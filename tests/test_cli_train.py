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
