"""The fit across a cut on a synthetic clip with known poses: two shots of one speaker (another pose,
the camera panned 250 px), fitted as one sequence and per shot; plots the right wrist against the truth.

    python docs/shots/plot_synthetic_cut.py OUT.png
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dr2prep.bodymodel.loading import load_body_model  # noqa: E402
from dr2prep.fitting.params_file import load_params  # noqa: E402
from dr2prep.fitting.stage import cpu_threads, run_fit_stage  # noqa: E402
from tests.prep.test_fitting_stage import SETTINGS, fitted_pose_error_mm, two_shot_clip_dir  # noqa: E402

CUT = 12
RIGHT_WRIST, PELVIS = 21, 0


def wrist(body, params) -> np.ndarray:
    from dr2prep.bodymodel.fast_forward import FastForward
    from dr2prep.fitting.params_file import smplx_inputs

    inputs = smplx_inputs(params)
    with torch.no_grad():
        joints = FastForward(body, params["betas"]).forward(
            inputs["global_orient"], inputs["body_pose"], inputs["jaw_pose"], inputs["left_hand_pose"],
            inputs["right_hand_pose"], inputs["expression"], inputs["transl"]).joints.numpy()
    return (joints[:, RIGHT_WRIST] - joints[:, PELVIS]) * 1000


def main(out: str) -> None:
    body = load_body_model("open")
    fits = {}
    with tempfile.TemporaryDirectory() as tmp, cpu_threads(1):
        for name, cuts in (("fit per shot", [CUT]), ("fit as one sequence", [])):
            folder = Path(tmp) / name.replace(" ", "_")
            clip, order = two_shot_clip_dir(folder, body, CUT)
            if cuts:
                (folder / "shots").mkdir()
                (folder / "shots" / "shots.json").write_text(json.dumps({"cuts": [{"frame": CUT}]}))
            run_fit_stage(folder, body, dataclasses.replace(SETTINGS, focal_length=clip.focal_length), "cpu")
            params = load_params(folder / "smplx" / "params.npz")
            fits[name] = (wrist(body, params), fitted_pose_error_mm(body, params, clip, order))
    truth = (clip.joints[order, RIGHT_WRIST] - clip.joints[order, PELVIS]) * 1000
    frames = np.arange(len(truth))
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for k, axis_name in enumerate("xy"):
        axes[k].plot(frames, truth[:, k], "k.-", label="true pose")
        for (name, (w, _)), style in zip(fits.items(), ("b-", "r-")):
            axes[k].plot(frames, w[:, k], style, label=name)
        axes[k].set_ylabel(f"right wrist {axis_name} from pelvis (mm)")
    for (name, (_, error)), style in zip(fits.items(), ("b-", "r-")):
        axes[2].plot(frames, error, style, label=name)
    axes[2].set_ylabel("upper-body joint error (mm)")
    for ax in axes:
        ax.axvline(CUT - 0.5, color="grey", linestyle="--")
        ax.set_xlabel("frame (dashed: the cut)")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=80)
    for name, (_, error) in fits.items():
        print(f"{name}: upper-body error, 4 frames after the cut {error[CUT:CUT + 4].mean():.0f} mm, "
              f"whole clip {error.mean():.0f} mm")


if __name__ == "__main__":
    main(*sys.argv[1:])
