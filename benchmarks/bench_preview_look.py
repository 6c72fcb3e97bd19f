"""Seconds per frame of a whole preview video (posing, drawing, encoding) in each look, on the same samples.

    python benchmarks/bench_preview_look.py SAMPLE.npz [SAMPLE.npz ...] [--frames N] [--repeats R]

The samples are `dr2 synth` outputs (several make a grid, as `--grid` does). The looks are
timed alternately in one run, so they share the machine's load; the table gives the best run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dr2model.preview import LOOKS, render_preview
from dr2model.synthesis import load_sample
from dr2prep.bodymodel.loading import load_body_model
from dr2common.progress import set_quiet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=150, help="frames of each sample to render")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    set_quiet(True)
    body = load_body_model("open")
    samples = [{k: v[: args.frames] for k, v in load_sample(p).items()} for p in args.samples]
    frames = min(len(s["body_pose"]) for s in samples)
    seconds = {look: [] for look in LOOKS}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for look in LOOKS:
                start = time.perf_counter()
                render_preview(samples, body, None, Path(folder) / f"{look}.mp4", [p.stem for p in args.samples],
                               renderer="builtin", look=look)
                seconds[look].append((time.perf_counter() - start) / frames)
    baseline = min(seconds["wooden"])
    print(f"{frames} frames x {len(samples)} sample(s), builtin renderer, best of {args.repeats}")
    print(f"{'look':<10}{'s/frame':>10}{'x wooden':>10}   all runs")
    for look in LOOKS:
        best = min(seconds[look])
        print(f"{look:<10}{best:>10.3f}{best / baseline:>10.2f}   {', '.join(f'{s:.3f}' for s in seconds[look])}")


if __name__ == "__main__":
    main()
