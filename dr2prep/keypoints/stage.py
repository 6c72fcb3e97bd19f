"""The keypoints stage: the speaker's 2D keypoints in every frame, by the chosen backend.

Writes `<clip>/keypoints/`: OpenPose JSON per frame (`000001_keypoints.json`, ...)
and `keypoints.npz` (layout in `openpose_format`); `--overlay` adds `overlay.mp4`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from dr2common.errors import Dr2Error
from dr2prep.keypoints.import_backend import folder_fingerprint, import_keypoints
from dr2prep.keypoints.mediapipe_backend import MediaPipeOptions, detect_mediapipe
from dr2prep.keypoints.openpose_backend import detect_openpose, load_pyopenpose
from dr2prep.keypoints.openpose_format import (
    JSON_SUFFIX,
    NPZ_NAME,
    PARTS,
    detected_parts,
    load_keypoints,
    quantize,
    save_keypoints_npz,
    write_frame_json,
)
from dr2prep.keypoints.overlay import OVERLAY_NAME, write_overlay
from dr2prep.media import clip_media
from dr2common.progress import progress_bar, say, warn
from dr2prep.stage import StageOutcome, StageSpec, run_stage, upstream_fingerprint

KEYPOINTS = StageSpec(name="keypoints", version="1", outputs=("keypoints",))
from dr2prep.choices import KEYPOINT_BACKENDS as BACKENDS  # noqa: E402  (defined once, light for the CLI)
MIN_BODY_RATE = 0.5  # below this share of frames with a body, the fit will have little to go on: warn


@dataclass(frozen=True)
class KeypointSettings:
    """What decides the keypoints (fingerprinted). Worker count and the overlay are not settings:
    they do not change the keypoints."""

    backend: str = "mediapipe"  # one of BACKENDS
    import_dir: str = ""  # backend "import": folder of OpenPose *_keypoints.json
    openpose_models: str = ""  # backend "openpose": OpenPose's models/ folder
    mediapipe: MediaPipeOptions = field(default_factory=MediaPipeOptions)


def _check(clip_dir: Path, settings: KeypointSettings, workers: int) -> tuple[KeypointSettings, dict]:
    """Refuse bad options before any work; returns the settings to record and the input fingerprints."""
    if settings.backend not in BACKENDS:
        raise Dr2Error(f"unknown keypoints backend {settings.backend!r}; choose one of {', '.join(BACKENDS)}")
    if workers < 1:
        raise Dr2Error(f"--workers must be at least 1 (got {workers})")
    inputs = {"media": upstream_fingerprint(clip_dir, "media", "keypoints")}
    if settings.backend == "import":
        if not settings.import_dir:
            raise Dr2Error("--keypoints import needs the folder of OpenPose JSON files: add --keypoints-dir DIR")
        folder = Path(settings.import_dir).expanduser().resolve()
        settings = replace(settings, import_dir=str(folder))
        inputs["import"] = folder_fingerprint(folder)
    elif settings.backend == "openpose":
        load_pyopenpose()
    return settings, inputs


def run_keypoints_stage(
    clip_dir: Path,
    settings: KeypointSettings = KeypointSettings(),
    force: bool = False,
    workers: int = 1,
    overlay: bool = False,
) -> StageOutcome:
    """Detect the speaker's keypoints in every frame of the clip; skipped when up to date.

    `workers` processes share the MediaPipe work (same result for any number);
    `overlay` also writes keypoints/overlay.mp4 (outside the stage's cached
    outputs, so asking for it never re-runs detection).
    """
    clip_dir = Path(clip_dir)
    settings, inputs = _check(clip_dir, settings, workers)
    clip = json.loads((clip_dir / "clip.json").read_text())
    frames = sorted((clip_dir / "frames").glob("*.jpg"))
    if len(frames) != clip["frames"]:
        raise Dr2Error(
            f"clip {clip_dir.name} should have {clip['frames']} frames but has {len(frames)}; "
            f"re-extract them with `dr2 prep --only media --force`"
        )
    width, height = clip["width"], clip["height"]

    def build(partial: Path) -> dict:
        out_dir = partial / "keypoints"
        out_dir.mkdir()
        started = time.time()
        if settings.backend == "mediapipe":
            raw, summary = detect_mediapipe(frames, width, height, settings.mediapipe, workers)
        elif settings.backend == "openpose":
            raw, summary = detect_openpose(frames, width, height, settings.openpose_models)
        else:
            source_fps = clip.get("source_fps")
            source_frames = round(clip["duration"] * source_fps) if clip.get("duration") and source_fps else None
            stems = [f.stem for f in frames]
            raw, summary = import_keypoints(Path(settings.import_dir), stems, width, height, source_frames, source_fps)
        seconds = time.time() - started
        keypoints = quantize(raw)
        detected = detected_parts(keypoints)
        if not detected.any():
            raise Dr2Error(
                f"no person found in any of the {len(frames)} frames of clip {clip_dir.name}; dr2 needs a video of "
                f"one speaker with the upper body in view (look at {clip_dir / 'frames'})"
            )
        written = progress_bar(zip(frames, keypoints, detected), total=len(frames), desc="json", unit="frame")
        for path, person, found in written:
            write_frame_json(out_dir / f"{path.stem}{JSON_SUFFIX}", person if found.any() else None)
        save_keypoints_npz(out_dir / NPZ_NAME, keypoints, (width, height))
        rates = {part: round(float(detected[:, i].mean()), 4) for i, part in enumerate(PARTS)}
        say("keypoints: found " + ", ".join(f"{part} in {rate:.0%}" for part, rate in rates.items()) + " of frames")
        if rates["body"] < MIN_BODY_RATE:
            warn(f"a body was found in only {rates['body']:.0%} of the frames of {clip_dir.name}; expect a poor fit")
        return {
            "backend": settings.backend,
            "frames": len(frames),
            "detection_rates": rates,
            "frames_per_second": round(len(frames) / max(seconds, 1e-6), 2),
            "workers": workers,
            **summary,
        }

    outcome = run_stage(clip_dir, KEYPOINTS, inputs, settings, build, force=force)
    if overlay:
        make_overlay(clip_dir)
    return outcome


def make_overlay(clip_dir: Path) -> Path:
    """Write keypoints/overlay.mp4 (frames with keypoints drawn, and the clip's audio) unless it exists.

    A re-run of the stage replaces the whole keypoints/ folder, so an existing overlay is always current.
    """
    clip_dir = Path(clip_dir)
    out = clip_dir / "keypoints" / OVERLAY_NAME
    if out.exists():
        say(f"overlay: up to date ({out})")
        return out
    media = clip_media(clip_dir)
    write_overlay(media.frames, load_keypoints(clip_dir), out, media.fps, media.audio)
    say(f"overlay: {out}")
    return out


def backend_versions() -> dict[str, str | None]:
    """For `dr2 info`: what each detector backend would run here (None: not installed). Imports nothing heavy."""
    try:
        mediapipe = importlib.metadata.version("mediapipe")
    except importlib.metadata.PackageNotFoundError:
        mediapipe = None
    openpose = None
    for name in ("pyopenpose", "openpose"):
        try:
            if importlib.util.find_spec(name) is not None:
                openpose = f"{name} found"
                break
        except (ImportError, ValueError):
            continue
    return {"mediapipe": mediapipe, "openpose": openpose, "import": "built in"}
