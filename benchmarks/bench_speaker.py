"""The held-out speaker benchmark (DESIGN §4.11): train on the first part of one real clip, synthesise for the
speech of the rest, compare with the rest's own fit.

Cuts VIDEO at --split seconds with ffmpeg, runs `dr2 prep` on both parts, trains on the first with the default
settings (`dr2 train`), synthesises --samples sequences for the second part's speech and one minute of it repeated,
and prints one table (JSON beside it) with the baselines of the same run: a random stretch of the training part's
real motion, the mean pose held still, nearest-neighbour audio retrieval from the training part, and the held-out
fit itself (the ceiling). Metrics: dr2model/holdout.py (temporal ones within shots: a jump cut is not motion).
Preps and models are cached in --work, so re-runs are fast.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_speaker.py ../shared/media/speaker_tips_46s.mp4 --split 34
    ... --variant paper   (also the paper-exact training/synthesis path, as a second model row)
    ... --variant prosody (`dr2 train --audio-channels prosody`)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORK = Path("/tmp/bench_speaker")


def cut(video: Path, start: float, duration: float | None, out: Path) -> None:
    """Cut [start, start + duration) of `video` into `out` (re-encoded, so the cut is frame-exact)."""
    from dr2common.ffmpeg_tools import ffmpeg_exe

    if out.is_file():
        return
    tmp = out.with_name(f".{out.stem}.tmp.mp4")
    command = [ffmpeg_exe(), "-v", "error", "-y", "-ss", f"{start}", "-i", str(video)]
    if duration is not None:
        command += ["-t", f"{duration}"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-c:a", "aac", str(tmp)]
    subprocess.run(command, check=True)
    tmp.replace(out)


def dr2(*args: str) -> None:
    """Run the dr2 CLI of this checkout (`python -m cli`)."""
    subprocess.run([sys.executable, "-m", "cli", *args], check=True, cwd=ROOT)


def variants() -> dict[str, tuple[dict, dict]]:
    """Named (training settings, synthesis options): 'default' is what `dr2 train`/`dr2 synth` do;
    'paper' is the paper-exact path where dr2's defaults depart from it; 'prosody' is
    `dr2 train --audio-channels prosody`."""
    from dr2model.synthesis import PAPER_SYNTH_OPTIONS
    from dr2model.train import PAPER_TRAIN_OPTIONS

    return {"default": ({}, {}), "paper": (dict(PAPER_TRAIN_OPTIONS), dict(PAPER_SYNTH_OPTIONS)),
            "prosody": ({"audio_channels": "prosody"}, {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", type=Path)
    parser.add_argument("--split", type=float, default=34.0, help="seconds: train before, hold out after")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="synthesis seed of the first sample")
    parser.add_argument("--train-seed", type=int, default=0,
                        help="`dr2 train --seed`: repeat with others to see how much the figures owe to one run")
    parser.add_argument("--long-seconds", type=float, default=60.0, help="speech for the seam and jerk figures")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="cache of cuts, preps and models")
    parser.add_argument("--tag", default="current", help="name of this code state's models (e.g. before, after)")
    parser.add_argument("--model-tag", help="reuse the models trained under this tag (default: --tag); models are "
                                            "also keyed by their training settings, so synthesis-only variants share one")
    parser.add_argument("--variant", action="append", default=None,
                        help="default, paper and/or prosody (repeatable; default: default)")
    parser.add_argument("--low-pass-hz", type=float,
                        help="`dr2 prep --low-pass-hz` of both parts' fits (default: prep's); 0 compares raw fits")
    parser.add_argument("--max-steps", type=int, help="cap training (quick looks only; the benchmark is defaults)")
    parser.add_argument("--out", type=Path, help="JSON path (default: WORK/CLIP/bench_speaker_TAG.json)")
    args = parser.parse_args()
    if args.samples < 3:
        parser.error("--samples must be at least 3")
    if not args.video.is_file():
        parser.error(f"{args.video} not found")

    import torch

    from dr2model.holdout import evaluate_holdout, format_table
    from dr2model.train import TrainSettings, train_model
    from dr2prep.bodymodel.loading import load_body_model
    from dr2common.progress import set_quiet

    set_quiet(True)
    work = args.work / f"{args.video.stem}_split{args.split:g}"
    work.mkdir(parents=True, exist_ok=True)
    workspace = work / "workspace"
    timings: dict[str, float] = {}

    def timed(name: str, fn, *a, **k):
        clock = time.perf_counter()
        value = fn(*a, **k)
        timings[name] = round(time.perf_counter() - clock, 2)
        print(f"  {name}: {timings[name]:.1f} s", flush=True)
        return value

    timed("cut_s", lambda: (cut(args.video, 0.0, args.split, work / "train.mp4"),
                            cut(args.video, args.split, None, work / "heldout.mp4")))
    for part in ("train", "heldout"):
        fit_options = [] if args.low_pass_hz is None else ["--low-pass-hz", f"{args.low_pass_hz:g}"]
        timed(f"prep_{part}_s", dr2, "--workspace", str(workspace), "--quiet", "prep", str(work / f"{part}.mp4"),
              "--clip", part, *fit_options)
    train_clip, heldout_clip = workspace / "train", workspace / "heldout"
    body = load_body_model(None)

    report = {"video": str(args.video), "split_s": args.split, "tag": args.tag, "train_seed": args.train_seed,
              "low_pass_hz": args.low_pass_hz, "torch_threads": torch.get_num_threads(), "timings_s": timings,
              "variants": {}}
    for name in args.variant or ["default"]:
        train_options, synth_options = variants()[name]
        settings = TrainSettings(**train_options, max_steps=args.max_steps, seed=args.train_seed)
        key = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True, default=str).encode()).hexdigest()[:8]
        model_dir = work / "models" / f"{args.model_tag or args.tag}-{key}"
        result = timed(f"train_{name}_s", train_model, [train_clip], model_dir, settings)
        report.setdefault("models", {})[name] = str(model_dir)
        step_timings: dict[str, float] = {}
        clock = time.perf_counter()
        holdout = evaluate_holdout(model_dir, train_clip, heldout_clip, body, args.samples, args.seed,
                                   args.long_seconds, work / "speech", step_timings, synth_options)
        timings[f"evaluate_{name}_s"] = round(time.perf_counter() - clock, 2)
        holdout["timings_s"] = {k: round(v, 2) for k, v in step_timings.items()}
        holdout["train"] = {"steps": result.steps, "windows_per_second": result.windows_per_second,
                            "final_loss": result.final_loss, "resumed_from": result.resumed_from}
        report["variants"][name] = holdout
    first = report["variants"][(args.variant or ["default"])[0]]
    model_rows = [{**v["rows"][0], "candidate": f"model {args.tag}-{n}"} for n, v in report["variants"].items()]
    lines = format_table({"rows": model_rows + first["rows"][1:]})
    out = args.out or work / f"bench_speaker_{args.tag}.json"
    out.write_text(json.dumps(report, indent=1, default=float))

    print(f"\n{args.video.name} split at {args.split:g} s: {first['seconds']:.1f} s held out, "
          f"{args.samples} samples; upper body (spine1..wrists) pelvis-relative, mm")
    print("\n".join(lines))
    print(f"real-stretch distance {first['real_stretch_distance_mm']:.1f} mm (diversity target ≥ 30%: "
          f"{0.3 * first['real_stretch_distance_mm']:.1f}); held-out fit jerk {first['fit_jerk']:.1f} m/s³")
    shots = first["shots"]
    print(f"shots (temporal metrics within shots, 2 frames either side of a cut out): held-out cuts "
          f"{len(shots['heldout_cuts'])} ({shots['heldout_steady_frames']} of {first['frames']} frames steady), "
          f"training cuts {len(shots['train_cuts'])}; real stretches cross {shots['real_stretch_cuts']} cuts; "
          f"nearest-audio windows inside shots: {'yes' if shots['nearest_audio_inside_shots'] else 'no (too short)'}"
          f", cuts copied {shots['nearest_audio_cuts']}")
    for name, holdout in report["variants"].items():
        verdict = ", ".join(f"{k} {'ok' if v else 'MISS'}" for k, v in holdout["targets"].items())
        print(f"{args.tag}-{name} targets: {verdict}")
        print(f"{args.tag}-{name} train: {holdout['train']['steps']} steps, "
              f"{holdout['train']['windows_per_second'] or float('nan'):.1f} windows/s")
    print("wall time per step (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
