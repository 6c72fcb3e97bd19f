"""Plot a fit across a shot change: wrists and hips in the image, detections against two fits.

The fit made as one sequence (before shot detection) ramps across the cut, held back by
the motion loss and the warm start; the fit made per shot follows the new shot at once.

    python docs/shots/plot_fit_across_cut.py CLIP_DIR ONE_SEQUENCE_PARAMS PER_SHOT_PARAMS CUT OUT.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dr2prep.bodymodel.loading import load_body_model  # noqa: E402
from dr2prep.bodymodel.fast_forward import FastForward  # noqa: E402
from dr2prep.fitting.camera import project  # noqa: E402
from dr2prep.fitting.params_file import load_params, smplx_inputs  # noqa: E402
from dr2prep.keypoints.openpose_format import load_keypoints  # noqa: E402

POINTS = {"right wrist": 4, "left wrist": 7, "mid hip": 8}  # BODY_25 indices
SPAN = 25  # frames shown either side of the cut


def projected(body, params) -> np.ndarray:
    """(T, 137, 2) the fit's OpenPose points in the image, px."""
    inputs = smplx_inputs(params)
    forward = FastForward(body, params["betas"])
    with torch.no_grad():
        points = forward(inputs["global_orient"], inputs["body_pose"], inputs["jaw_pose"], inputs["left_hand_pose"],
                         inputs["right_hand_pose"], inputs["expression"], inputs["transl"]).points
        return project(points, float(params["focal_length"]), torch.as_tensor(params["camera_center"])).numpy()


def main(clip_dir, joined_params, shot_params, cut, out) -> None:
    body = load_body_model("open")
    detected = load_keypoints(Path(clip_dir)).keypoints
    fits = {"fit as one sequence": projected(body, load_params(Path(joined_params))),
            "fit per shot": projected(body, load_params(Path(shot_params)))}
    cut = int(cut)
    frames = np.arange(max(0, cut - SPAN), min(len(detected), cut + SPAN))
    figure, axes = plt.subplots(len(POINTS), 2, figsize=(11, 2.6 * len(POINTS)), sharex=True)
    for row, (name, index) in enumerate(POINTS.items()):
        for col, axis_name in enumerate("xy"):
            ax = axes[row, col]
            seen = detected[frames, index, 2] > 0
            ax.plot(frames[seen], detected[frames, index, col][seen], "k.", label="detected keypoint")
            for (label, points), style in zip(fits.items(), ("r-", "b-")):
                ax.plot(frames, points[frames, index, col], style, label=label)
            ax.axvline(cut - 0.5, color="grey", linestyle="--")
            ax.set_ylabel(f"{name} {axis_name} (px)")
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xlabel("frame (dashed: the cut)")
    axes[-1, 1].set_xlabel("frame (dashed: the cut)")
    figure.suptitle(f"{Path(clip_dir).name}: cut before frame {cut} ({cut / 30:.2f} s)")
    figure.tight_layout()
    figure.savefig(out, dpi=80)
    for label, points in fits.items():
        after = slice(cut, cut + 5)
        error = np.linalg.norm(points[after] - detected[after, :, :2], axis=-1)
        seen = detected[after, :, 2] > 0
        wrists = [4, 7]
        print(f"{label}: mean image error over the 5 frames after the cut: wrists "
              f"{error[:, wrists][seen[:, wrists]].mean():.1f} px, "
              f"body points {error[:, :25][seen[:, :25]].mean():.1f} px")


if __name__ == "__main__":
    main(*sys.argv[1:])
