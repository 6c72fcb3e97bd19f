"""FBX (Unity, Unreal, Mixamo-style pipelines) through Blender as a Python module (`bpy`, an optional extra).

dr2's .glb goes through Blender's glTF importer and FBX exporter in a separate Python that has `bpy`
(PyPI's bpy 4.2 needs Python 3.11 and ~1 GB, so it lives in its own venv: `make blender`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dr2model.export.gltf import write_glb
from dr2model.export.motion import Motion
from dr2common.errors import Dr2Error

BLENDER_PYTHON_ENV = "DR2_BLENDER_PYTHON"
PROJECT_BLENDER_VENV = Path(__file__).resolve().parents[2] / ".venv-blender"
SCRIPT = Path(__file__).with_name("blender_fbx.py")
TIMEOUT_S = 600


def blender_python() -> str:
    """A Python that can `import bpy`: $DR2_BLENDER_PYTHON, the project's .venv-blender, or this one."""
    given = os.environ.get(BLENDER_PYTHON_ENV)
    if given:
        if not Path(given).is_file():
            raise Dr2Error(f"${BLENDER_PYTHON_ENV} = {given} does not exist; point it at a Python with bpy 4.2 "
                           f"or unset it")
        return given
    project = PROJECT_BLENDER_VENV / "bin" / "python"
    if project.is_file():
        return str(project)
    if importlib.util.find_spec("bpy") is not None:
        return sys.executable
    raise Dr2Error("FBX export needs Blender as a Python module: run `make blender` (a .venv-blender with "
                   f"bpy 4.2 on Python 3.11), or set ${BLENDER_PYTHON_ENV} to a Python that has bpy")


def write_fbx(motion: Motion, body, path: Path) -> Path:
    """Write `motion` on `body` as FBX at `path` (via a temporary .glb and Blender); returns the path."""
    python = blender_python()
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="dr2-fbx-") as tmp:
        glb = write_glb(motion, body, Path(tmp) / f"{path.stem}.glb")
        partial = Path(tmp) / path.name
        try:
            run = subprocess.run([python, str(SCRIPT), str(glb), str(partial), str(motion.fps)],
                                 capture_output=True, text=True, timeout=TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise Dr2Error(f"Blender ({python}) did not run: {error}; check `make blender`") from None
        if run.returncode != 0 or not partial.is_file():
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            raise Dr2Error(f"Blender's FBX export failed ({last}); check `{python} -c 'import bpy'`")
        shutil.move(partial, path)
    return path
