"""Frames per second of FastForward (keypoints only) vs smplx's full SMPL-X forward pass.

1000 frames of random poses, float32, on both body kinds: the open body (24,384 vertices)
and a random model in SMPL-X's full format (10,475 vertices, pose correctives, dynamic
contour). smplx runs in chunks of --chunk frames (its full mesh for 1000 frames needs GBs);
its frames/s does not depend on the chunk much. Forward+backward (what fitting runs) is
timed on --backward-frames frames. One torch thread by default: on a shared machine
multi-threaded timings of small tensor ops swing by 10x. Goal: fast forward >= 20x smplx.

    .venv/bin/python benchmarks/bench_bodymodel.py [--frames 1000] [--backward-frames 200]
        [--chunk 100] [--threads 1] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dr2prep.bodymodel.loading import load_body_model  # noqa: E402

from dr2prep.bodymodel.fast_forward import FastForward  # noqa: E402
from dr2prep.bodymodel.openpose_correspondence import OPENPOSE_FROM_SMPLX  # noqa: E402
from dr2prep.bodymodel.synthetic_smplx import write_synthetic_smplx  # noqa: E402

SIZES = {"global_orient": 3, "body_pose": 63, "jaw": 3, "left_hand": 45, "right_hand": 45, "face": 10, "transl": 3}
SCALES = {
    "global_orient": 1.0, "body_pose": 0.4, "jaw": 0.2, "left_hand": 0.4, "right_hand": 0.4, "face": 1.0, "transl": 1.0,
}


def random_pose(frames: int, device: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {k: (torch.randn(frames, n, generator=generator) * SCALES[k]).to(device) for k, n in SIZES.items()}


def best_of(function, repeat: int) -> float:
    """Best wall time of `repeat` runs, in seconds (synchronising CUDA)."""
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def smplx_forward(layer, pose, chunk: int, betas) -> torch.Tensor:
    """smplx's full forward, chunked; returns (frames, 137, 3) keypoints."""
    out = []
    for start in range(0, pose["global_orient"].shape[0], chunk):
        part = {k: v[start : start + chunk] for k, v in pose.items()}
        n = part["global_orient"].shape[0]
        zeros = torch.zeros(n, 3, device=betas.device)
        joints = layer(
            betas=betas.expand(n, -1), global_orient=part["global_orient"], body_pose=part["body_pose"],
            jaw_pose=part["jaw"], leye_pose=zeros, reye_pose=zeros, left_hand_pose=part["left_hand"],
            right_hand_pose=part["right_hand"], expression=part["face"], transl=part["transl"],
        ).joints
        out.append(joints[:, OPENPOSE_FROM_SMPLX])
    return torch.cat(out)


def bench(name: str, body, frames: int, backward_frames: int, chunk: int, device: str) -> list[str]:
    pose = random_pose(frames, device)
    betas = torch.randn(1, 10, generator=torch.Generator().manual_seed(1)).to(device)
    layer = body.smplx_layer(dtype=torch.float32, device=device)
    fast = FastForward(body, betas[0].cpu().numpy(), device=device)

    with torch.no_grad():
        start = time.perf_counter()
        reference = smplx_forward(layer, pose, chunk, betas)
        t_full = time.perf_counter() - start
        error = (fast(**pose).points - reference).abs().max().item()
        t_fast = best_of(lambda: fast(**pose), repeat=5)

    few = {k: v[:backward_frames] for k, v in pose.items()}

    def fast_backward():
        leaves = {k: v.clone().requires_grad_(True) for k, v in few.items()}
        fast(**leaves).points.square().sum().backward()

    def full_backward():
        leaves = {k: v.clone().requires_grad_(True) for k, v in few.items()}
        for start in range(0, backward_frames, chunk):
            part = {k: v[start : start + chunk] for k, v in leaves.items()}
            smplx_forward(layer, part, chunk, betas).square().sum().backward()

    tb_fast = best_of(fast_backward, repeat=3)
    tb_full = best_of(full_backward, repeat=1)
    rows = []
    timings = (("forward", frames, t_fast, t_full), ("forward+backward", backward_frames, tb_fast, tb_full))
    for label, n, fast_s, full_s in timings:
        rows.append(f"{name:<22} {label:<17} {n / full_s:>12,.0f} {n / fast_s:>14,.0f} {full_s / fast_s:>8.1f}x")
    rows.append(f"{name:<22} max |fast - smplx| keypoint difference: {error:.2e} m")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--backward-frames", type=int, default=200)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        synthetic = write_synthetic_smplx(Path(tmp) / "SMPLX_NEUTRAL.npz", shape_space=400)
        bodies = {
            "open body": load_body_model("open"),
            "SMPL-X format (random)": load_body_model(synthetic, cache=Path(tmp) / "cache"),
        }
        print(f"{args.frames} frames ({args.backward_frames} for backward), float32, {args.device}, "
              f"torch threads {torch.get_num_threads()}, smplx chunk {args.chunk}")
        print(f"{'model':<22} {'pass':<17} {'smplx fr/s':>12} {'fast fr/s':>14} {'ratio':>9}")
        for name, body in bodies.items():
            for row in bench(name, body, args.frames, args.backward_frames, args.chunk, args.device):
                print(row)
    print("goal: ratio >= 20x")


if __name__ == "__main__":
    main()
