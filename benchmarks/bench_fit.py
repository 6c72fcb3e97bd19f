"""SMPL-X fitting on synthetic ground truth: accuracy, jitter and speed of the three modes.

Run: python benchmarks/bench_fit.py [--frames 300] [--seeds 0 1] [--threads 1] [--weights 100 100000]
Each seed is a smooth random gesture sequence of the open body (10 s at 30 fps),
projected to keypoints with 2 px noise, 10 % random dropouts and three 3-frame
total detection failures. One reference fit per seed (timed separately) feeds
all modes. Rows: per-frame fitting (no temporal terms), sequential (the paper)
and window (ours), all low-passed at 8 Hz as the stage does; window without
that low-pass ("raw"); then window with other motion weights ω. Columns: MPJPE and
PA-MPJPE over the upper body (mm), the same on the failed-detection frames
alone, median 2D reprojection error against the detections (px), acceleration
error (mm/frame²) and frames/s. The machine is shared: the load is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np
import torch

from dr2prep.bodymodel.loading import load_body_model
from dr2prep.fitting import metrics
from dr2prep.fitting.fit import FitSettings, clip_objective, fit_reference_frames, fit_sequence
from dr2prep.fitting.objective import reprojection_error_px
from dr2prep.fitting.smoothing import low_pass_fit
from dr2prep.fitting.synthetic import make_clip
from dr2common.progress import set_quiet
from dr2common.rates import FPS

GOAL_FPS = 30.0


def evaluate(body, clip, reference, settings: FitSettings) -> dict:
    objective = clip_objective(body, reference, settings, clip.image_size, "cpu")
    started = time.perf_counter()
    x = np.concatenate([c.x for c in fit_sequence(objective, clip.keypoints, reference, settings, "cpu")])
    seconds = time.perf_counter() - started
    x = low_pass_fit(x, (), FPS, settings.low_pass_hz, objective.layout)  # as the stage does after the fit
    orient = torch.as_tensor(reference.global_orient[None], dtype=torch.float32)
    with torch.no_grad():
        x = torch.as_tensor(x)
        joints = objective.joints(x, orient).numpy()
        _, projected = objective.points(x, orient)
        reprojection = reprojection_error_px(projected, torch.as_tensor(clip.keypoints)).numpy()
    failed = np.zeros(len(x), bool)
    failed[clip.failed_frames] = True
    error, aligned = metrics.mpjpe(joints, clip.joints), metrics.pa_mpjpe(joints, clip.joints)
    return {
        "mpjpe": error[~failed].mean(), "pa_mpjpe": aligned[~failed].mean(),
        "failed_mpjpe": error[failed].mean(), "failed_pa_mpjpe": aligned[failed].mean(),
        "reprojection": np.nanmedian(reprojection), "acceleration": metrics.acceleration_error(joints, clip.joints),
        "fps": len(x) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the stage uses 1 on the CPU)")
    parser.add_argument("--weights", type=float, nargs="+", default=[1e2, 1e3, 1e5], help="extra ω rows for window mode (the paper's 1e2 among them)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_quiet(True)
    body = load_body_model("open")
    base = FitSettings()
    rows = [("per-frame", dataclasses.replace(base, mode="per-frame")),
            ("sequential", dataclasses.replace(base, mode="sequential")),
            ("window", base),
            ("window, raw", dataclasses.replace(base, low_pass_hz=0.0))]  # without the 8 Hz low-pass of the fit
    rows += [(f"window ω={w:g}", dataclasses.replace(base, motion_weight=w)) for w in args.weights]
    results: dict[str, list[dict]] = {name: [] for name, _ in rows}
    reference_seconds = []
    load_before = os.getloadavg()[0]
    for seed in args.seeds:
        clip = make_clip(body, n_frames=args.frames, seed=seed)
        settings = dataclasses.replace(base, focal_length=clip.focal_length)
        started = time.perf_counter()
        reference = fit_reference_frames(body, clip.keypoints, settings, clip.image_size, "cpu")
        reference_seconds.append(time.perf_counter() - started)
        for name, row in rows:
            results[name].append(evaluate(body, clip, reference, dataclasses.replace(row, focal_length=clip.focal_length)))
            print(f"  seed {seed} {name}: {results[name][-1]['fps']:.1f} frames/s", file=sys.stderr, flush=True)
    load_after = os.getloadavg()[0]

    table = {name: {k: float(np.mean([r[k] for r in runs])) for k in runs[0]} for name, runs in results.items()}
    print(f"{len(args.seeds)} clips x {args.frames} frames, torch threads {args.threads}, load average "
          f"{load_before:.1f} -> {load_after:.1f} (2 cores); defaults: ω={base.motion_weight:g}, "
          f"ω_t={base.translation_motion_weight:g}, window {base.window}, {base.iterations} iterations")
    print(f"reference fit (SMPLify-X, 4 stages): {np.mean(reference_seconds):.1f} s per clip")
    header = (f"{'mode':<16}{'MPJPE':>8}{'PA-MPJPE':>10}{'failed MPJPE':>14}{'failed PA':>11}"
              f"{'reproj px':>11}{'accel err':>11}{'frames/s':>10}{'accel ratio':>13}")
    print(header)
    baseline = table["per-frame"]["acceleration"]
    for name, r in table.items():
        print(f"{name:<16}{r['mpjpe']:>8.1f}{r['pa_mpjpe']:>10.1f}{r['failed_mpjpe']:>14.1f}{r['failed_pa_mpjpe']:>11.1f}"
              f"{r['reprojection']:>11.2f}{r['acceleration']:>11.2f}{r['fps']:>10.1f}{r['acceleration'] / baseline:>13.2f}")
    window, sequential = table["window"], table["sequential"]
    print("goals: window >= 30 frames/s: {}; window MPJPE <= sequential: {}; window jitter <= half of per-frame: {}".format(
        "met" if window["fps"] >= GOAL_FPS else "MISSED",
        "met" if window["mpjpe"] <= sequential["mpjpe"] else "MISSED",
        "met" if window["acceleration"] <= 0.5 * baseline else "MISSED"))


if __name__ == "__main__":
    main()
