"""The `openpose` backend: OpenPose's own Python API (pyopenpose), when the user has built it.

dr2 cannot install OpenPose (it needs a CUDA/Caffe build); this module runs it
when `pyopenpose` is importable and otherwise says how to get it or what to
use instead. Confidences are OpenPose's own; with several people in view the
speaker is chosen by `tracking.pick_speaker`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dr2common.errors import Dr2Error
from dr2prep.keypoints.openpose_format import BODY, FACE, HAND_LEFT, HAND_RIGHT, N_POINTS
from dr2prep.keypoints.tracking import pick_speaker
from dr2common.progress import progress_bar

INSTALL_HINT = (
    "build OpenPose with -DBUILD_PYTHON=ON and add its build/python folder to PYTHONPATH "
    "(https://github.com/CMU-Perceptual-Computing-Lab/openpose), or use --keypoints mediapipe "
    "(built in) or --keypoints import --keypoints-dir DIR with OpenPose's JSON output"
)


def load_pyopenpose():
    """The pyopenpose module, or a Dr2Error saying how to get it."""
    try:
        from openpose import pyopenpose  # the layout of OpenPose's `make install`
    except ImportError:
        try:
            import pyopenpose  # build/python/openpose on PYTHONPATH
        except ImportError:
            raise Dr2Error(f"the openpose backend needs pyopenpose, which cannot be imported: {INSTALL_HINT}") from None
    return pyopenpose


def _people(datum) -> np.ndarray:
    """One processed datum -> (N, 137, 3); OpenPose leaves arrays empty or None when it saw no one."""
    pose = datum.poseKeypoints
    if pose is None or np.ndim(pose) != 3 or len(pose) == 0:
        return np.zeros((0, N_POINTS, 3))
    people = np.zeros((len(pose), N_POINTS, 3))
    people[:, BODY] = pose
    parts = ((HAND_LEFT, datum.handKeypoints[0]), (HAND_RIGHT, datum.handKeypoints[1]), (FACE, datum.faceKeypoints))
    for rows, values in parts:
        if values is not None and np.ndim(values) == 3 and len(values) == len(pose):
            people[:, rows] = values
    return people


def detect_openpose(frames: list[Path], width: int, height: int, model_folder: str) -> tuple[np.ndarray, dict]:
    """Run OpenPose (BODY_25 + hands + face) on every frame; (T, 137, 3) float64 of the speaker, and a summary."""
    op = load_pyopenpose()
    if not model_folder or not (Path(model_folder) / "pose" / "body_25").is_dir():
        raise Dr2Error(
            f"OpenPose's models folder {model_folder!r} has no pose/body_25; give it with --openpose-models "
            f"(the models/ folder of your OpenPose checkout, after running its getModels script)"
        )
    wrapper = op.WrapperPython()
    wrapper.configure({"model_folder": str(model_folder), "model_pose": "BODY_25", "hand": True, "face": True})
    wrapper.start()
    people = []
    for path in progress_bar(frames, desc="openpose", unit="frame"):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise Dr2Error(f"frame {path} cannot be read; re-extract the frames with `dr2 prep --only media --force`")
        datum = op.Datum()
        datum.cvInputData = image
        wrapper.emplaceAndPop(op.VectorDatum([datum]))
        people.append(_people(datum))
    wrapper.stop()
    summary = {"frames_with_several_people": sum(1 for p in people if len(p) > 1)}
    return pick_speaker(people, width, height), summary
