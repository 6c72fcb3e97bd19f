"""The fit's output file `smplx/params.npz`: SMPL-X parameters per frame, the camera, and how well they fit.

Keys (T frames), all plain arrays (load with allow_pickle=False):
- betas (10,), global_orient (T, 3), transl (T, 3) metres, body_pose (T, 63), jaw_pose (T, 3),
  leye_pose / reye_pose (T, 3) (zero), left_hand_pose / right_hand_pose (T, 45) full axis-angle
  relative to the mean hand (smplx's flat_hand_mean=False), expression (T, 10) (the open body's
  face code), and left_hand_pca / right_hand_pca (T, 12) when the model has MANO's hand PCA;
- focal_length () px, camera_center (2,) px, image_size (2,) width, height: the pinhole the fit
  assumed (camera at the origin looking down +z, image y down: the body's transl is in it);
- loss (T,) the objective per frame, reprojection_px (T,) mean keypoint error (NaN where nothing
  was detected), detected (T,) bool (any body keypoint), reference_frames (K,);
- model_kind () str ("open" or "smplx"), fps ();
- shot_starts (C,) the first frame of every shot after the first (dr2prep/shots.py; absent in fits
  made before shot detection, which count as one shot).

`smplx_inputs(params)` gives the keyword arguments of `smplx.SMPLX.forward` (betas repeated per frame).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dr2common.smplx_params import FRAME_KEYS

PARAMS_NAME = "params.npz"


def save_params(path: Path, params: dict[str, np.ndarray]) -> None:
    """Write params.npz (float32 arrays, bool `detected`, str `model_kind`)."""
    arrays = {}
    for key, value in params.items():
        value = np.asarray(value)
        arrays[key] = value.astype(np.float32) if value.dtype.kind == "f" else value
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def read_npz(path: Path, remedy: str) -> dict[str, np.ndarray]:
    """Every plain array of an .npz, never unpickling; a clear error ending in `remedy` when it cannot be read."""
    from dr2common.safe_npz import read_npz as read_plain_npz

    return read_plain_npz(path, "file", remedy)


def load_params(path: Path) -> dict[str, np.ndarray]:
    """Read params.npz without unpickling (dr2model.dataset.load_training_params also checks it for training)."""
    from dr2common.safe_npz import read_npz as read_plain_npz

    return read_plain_npz(path, "SMPL-X parameters", "re-run `dr2 fit-smplx --force` on the clip")


def smplx_inputs(params: dict[str, np.ndarray]):
    """Keyword arguments (torch, float32) of smplx.SMPLX.forward for all frames of params."""
    import torch

    frames = len(params["body_pose"])
    inputs = {key: torch.as_tensor(np.asarray(params[key], np.float32)) for key in FRAME_KEYS}
    inputs["betas"] = torch.as_tensor(np.asarray(params["betas"], np.float32)).reshape(1, -1).expand(frames, -1)
    return inputs
