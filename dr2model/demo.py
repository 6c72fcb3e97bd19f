"""`dr2 demo` / `make demo`: the whole chain on inputs the demo makes itself.

The input (`demo_input`) is generated, never downloaded, so the demo runs
offline and ships nothing under someone else's licence: prep (media,
keypoints, audio features) -> SMPL-X fit -> train -> synth on new speech -> preview.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import torch

from dr2model.demo_input import demo_poses_path, make_demo_speech, make_demo_video
from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import ffmpeg_exe
from dr2prep.pipeline import prepare_clip
from dr2common.progress import say
from dr2prep.stage import read_record

DEMO_SECONDS = 8.0  # the generated speaker video the model learns from
SPEECH_SECONDS = 10.0  # the new speech it gestures to
SPEECH_SEED = 1  # the video's speech uses seed 0: the synthesis input is speech the model never heard
DEMO_SAMPLES = 2  # side by side in the preview: same speech, two initial states
DEMO_STEPS = 150  # training steps: about a minute on a 2-core CPU; enough to see audio-driven motion
TRAIN_THREADS = 1  # batch-8 CPU steps: 18 windows/s on one thread vs 13.5 on two (2-core machine, measured)
FRAME_SECONDS = 6.0  # where the preview's still (demo_frame.png) is taken
FRAME_WIDTH = 640


def demo_train_settings():
    from dr2model.train import TrainSettings

    return TrainSettings(batch_size=8, window_stride=2, max_steps=DEMO_STEPS, log_every=10, checkpoint_every=50)


def _inputs_digest(clip_dir: Path) -> dict:
    return {stage: (read_record(clip_dir, stage) or {}).get("output_digest") for stage in ("smplx", "audio_features")}


def train_demo_model(clip_dir: Path, model_dir: Path, device: str) -> Path:
    """Train (or reuse) the demo model; a changed demo clip retrains it from scratch."""
    from dr2model.train import train_model

    stamp = model_dir / "demo_inputs.json"
    inputs = _inputs_digest(clip_dir)
    force = stamp.is_file() and json.loads(stamp.read_text()) != inputs
    say(f"demo: training on {clip_dir.name} ({DEMO_STEPS} steps)")
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        train_model([clip_dir], model_dir, demo_train_settings(), device=device, force=force)
    finally:
        torch.set_num_threads(threads)
    stamp.write_text(json.dumps(inputs))
    return model_dir


def save_still(video: Path, png: Path, seconds: float = FRAME_SECONDS, width: int = FRAME_WIDTH) -> Path:
    """One frame of `video` as a PNG `width` pixels wide (for the README)."""
    result = subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-ss", str(seconds), "-i", str(video),
                             "-frames:v", "1", "-vf", f"scale={width}:-2", str(png)], capture_output=True, text=True)
    if result.returncode != 0:
        raise Dr2Error(f"could not take a frame of {video} ({result.stderr.strip()})")
    return png


def report_demo(video: Path, clip_dir: Path, sample_paths: list[Path], out: Path):
    """Measure the fit against the rendered poses and the samples (dr2model.demo_report); print and keep it."""
    import numpy as np

    from dr2model.demo_report import measure_demo
    from dr2model.synthesis import load_sample
    from dr2prep.bodymodel.loading import load_body_model
    from dr2prep.fitting.params_file import load_params
    from dr2common.atomic import write_json_atomic

    with np.load(demo_poses_path(video)) as saved:
        truth = {key: saved[key] for key in ("global_orient", "body_pose", "transl")}
    fitted = load_params(clip_dir / "smplx" / "params.npz")
    report = measure_demo(load_body_model("open"), truth, fitted, [load_sample(p) for p in sample_paths])
    for line in report.lines():
        say(f"demo: {line}")
    write_json_atomic(out, report.as_dict())
    return report


def run_demo(workspace: Path, device: str = "cpu") -> Path:
    """Make the demo inputs and run the whole chain; returns the preview mp4 (its still is beside it)."""
    from dr2model.synthesis import synthesize

    workspace = Path(workspace)
    video = make_demo_video(workspace / "inputs" / "demo.mp4", seconds=DEMO_SECONDS)
    say(f"demo input: {video} (a generated speaker: the open body dressed and given a face, rendered by dr2)")
    clip_dir = prepare_clip(video, workspace, device=device)
    model_dir = train_demo_model(clip_dir, workspace / "demo-model", device)
    speech = make_demo_speech(workspace / "inputs" / "new_speech.wav", SPEECH_SECONDS, SPEECH_SEED)
    say(f"demo: synthesising gestures for {speech} (new synthetic speech, not the training audio)")
    outputs = synthesize(model_dir, speech, workspace / "synth", num_samples=DEMO_SAMPLES, seed=0, device=device,
                         grid=True)
    preview = outputs[0].preview_path
    still = save_still(preview, preview.with_suffix(".png"))
    say(f"demo: SMPL-X parameters {', '.join(str(o.params_path) for o in outputs)}")
    report_demo(video, clip_dir, [o.params_path for o in outputs], workspace / "synth" / "demo_report.json")
    say(f"demo: preview {preview} (still: {still})")
    return preview
