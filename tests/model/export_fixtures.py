"""Shared inputs of the export and viewer tests: a result .npz in `dr2 synth`'s layout, and the external tools.

Where a tool is missing the tests skip with how to install it, unless DR2_REQUIRE_TOOLS=1 (set by
.ci/run, which installs them all): there a missing tool fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from dr2model.export.fbx import PROJECT_BLENDER_VENV
from dr2prep.bodymodel.loading import load_body_model
from tests.model.chromium_page import chromium_executable
from tests.model.synthetic import smplx_params

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "node_modules" / "gltf-validator"
FRAMES = 45
FPS = 30


def synth_result(path: Path, frames: int = FRAMES, seed: int = 3) -> Path:
    """An .npz exactly in `dr2 synth`'s layout (every key, betas repeated per frame) with smooth motion."""
    params = smplx_params(frames, seed=seed)
    params["betas"] = np.tile(params["betas"], (frames, 1))
    params["leye_pose"] = np.zeros((frames, 3), np.float32)
    params["reye_pose"] = np.zeros((frames, 3), np.float32)
    np.savez(path, **params)
    return path


def smplx_output(params: dict[str, np.ndarray]):
    """smplx's own forward pass of the open body for a result's arrays: (joints (T, 55, 3), vertices (T, V, 3))."""
    body = load_body_model("open")
    frames = len(params["global_orient"])
    layer = body.smplx_layer(batch_size=frames)
    inputs = {key: torch.as_tensor(np.asarray(value, np.float32)) for key, value in params.items()
              if key in ("betas", "global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose",
                         "left_hand_pose", "right_hand_pose", "expression", "transl")}
    with torch.no_grad():
        out = layer(**inputs)
    return out.joints[:, :55].double().numpy(), out.vertices.double().numpy()


def _require(found: bool, what: str, how: str) -> None:
    if found:
        return
    message = f"{what} is not installed here ({how})"
    if os.environ.get("DR2_REQUIRE_TOOLS") == "1":
        pytest.fail(message + "; DR2_REQUIRE_TOOLS=1 says it must be")
    pytest.skip(message)


def require_validator() -> str:
    node = shutil.which("node")
    _require(node is not None and VALIDATOR.is_dir(), "the Khronos glTF validator",
             "`npm ci` at the project root, see .ci/run")
    return node


def require_blender() -> str:
    python = os.environ.get("DR2_BLENDER_PYTHON") or str(PROJECT_BLENDER_VENV / "bin" / "python")
    found = Path(python).is_file() and subprocess.run([python, "-c", "import bpy"], capture_output=True).returncode == 0
    _require(found, "Blender's bpy", "`make blender`; PyPI's bpy 4.2 needs Python 3.11")
    return python


def require_chromium() -> str:
    _require(chromium_executable() is not None, "Chromium", "`apt-get install chromium`, see .ci/run")
    return chromium_executable()
