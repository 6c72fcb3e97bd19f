"""Blender (PyPI's bpy 4.2, in .venv-blender) imports the BVH and the .glb, and the FBX made through it.

Each import is checked against the npz: bone count, frame range, and one joint's local rotation at
one frame. Skips only where bpy is not installed (it needs Python 3.11 and ~1 GB: `make blender`).
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dr2prep.bodymodel.loading import load_body_model

from dr2prep.bodymodel import skeleton
from tests.cli_runner import run_dr2
from tests.model.export_fixtures import FPS, FRAMES, ROOT, require_blender, synth_result

pytestmark = pytest.mark.slow
JOINT = "right_elbow"
FRAME = 30
# Blender's importers turn glTF's / BVH's y-up into Blender's z-up: a quarter turn about x
BLENDER_FROM_YUP = Rotation.from_euler("x", 90, degrees=True).as_matrix()


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    python = require_blender()
    folder = tmp_path_factory.mktemp("blender")
    result = synth_result(folder / "speech_seed0.npz")
    env = {**os.environ, "DR2_BLENDER_PYTHON": python}
    run_dr2("export", result, "--format", "bvh", "--format", "gltf", "--format", "fbx", check=True, env=env)
    return python, result


def blender_inspect(python: str, path) -> dict:
    run = subprocess.run([python, str(ROOT / "tests/model/blender_inspect.py"), str(path), str(FPS), JOINT, str(FRAME)],
                         capture_output=True, text=True, timeout=300)
    line = next((line for line in run.stdout.splitlines() if line.startswith("DR2_JSON ")), None)
    assert line is not None, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(line[len("DR2_JSON "):])
    print(f"{path.name}: {report['bones']} bones, frames {report['frame_range']}, {report['meshes']} mesh objects")
    return report


def npz_local_rotation(result, joint: str, frame: int) -> np.ndarray:
    with np.load(result) as data:
        body_pose = data["body_pose"][frame].reshape(21, 3)
    index = skeleton.JOINT_NAMES.index(joint)
    assert 1 <= index <= 21
    return Rotation.from_rotvec(body_pose[index - 1].astype(np.float64)).as_matrix()


@pytest.mark.parametrize("suffix", [".bvh", ".glb", ".fbx"])
def test_blender_imports_the_export(exports, suffix):
    python, result = exports
    report = blender_inspect(python, result.with_suffix(suffix))
    assert report["armatures"] == 1 and report["bones"] == skeleton.NUM_JOINTS
    start, end = report["frame_range"]
    assert end - start + 1 == FRAMES
    if suffix != ".bvh":
        assert report["meshes"] >= 1  # the skinned body came along
    # the joint's rotation relative to its parent, back in the export's y-up frame, is the npz's
    local = np.array(report["parent"]).T @ np.array(report["joint"])
    local = BLENDER_FROM_YUP.T @ local @ BLENDER_FROM_YUP
    expected = npz_local_rotation(result, JOINT, FRAME)
    angle = Rotation.from_matrix(local.T @ expected).magnitude()
    print(f"{suffix}: {JOINT} at frame {FRAME} differs from the npz by {angle:.2e} rad")
    assert angle < 1e-3


def test_fbx_export_without_blender_is_one_line(tmp_path):
    result = synth_result(tmp_path / "speech_seed0.npz")
    env = {**os.environ, "DR2_BLENDER_PYTHON": str(tmp_path / "no-python")}
    run = run_dr2("export", result, "--format", "fbx", env=env)
    assert run.returncode == 2 and "DR2_BLENDER_PYTHON" in run.stderr and "Traceback" not in run.stderr
    assert not list(tmp_path.glob("*.fbx"))
