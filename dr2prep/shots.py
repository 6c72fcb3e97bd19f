"""Shot changes in a prepared clip: the frames where the video cuts from one camera shot to another.

A cut is not motion: the fit, the training windows and the metrics treat each shot
as its own sequence. Detection compares each 30 FPS frame with the one before on a
small thumbnail (mean grey difference plus a colour-histogram distance) and calls a
cut where that score is an isolated spike, well above its neighbours and the local
level of motion (an adaptive threshold: a fast gesture raises its neighbours too).
A fade through black has no spike; it is found as a run of black frames between
brighter ones, and the shot changes in its middle. Cross-dissolves are not detected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dr2common.errors import Dr2Error
from dr2common.progress import progress_bar
from dr2common.atomic import write_json_atomic
from dr2prep.stage import StageSpec, run_stage, upstream_fingerprint
from dr2common.rates import FPS

SHOTS = StageSpec(name="shots", version="1", outputs=("shots/shots.json",))
SHOTS_FILE = "shots/shots.json"
HISTOGRAM_BINS = 16  # per channel of YCbCr: stable on grey walls, where hue is noise
TRANSITION_MARGIN = 2  # frames each side of a cut that temporal metrics leave out


@dataclass(frozen=True)
class ShotSettings:
    """How shot changes are found (fingerprinted by the stage cache).

    The score of a frame pair is in [0, 2]: mean |grey difference| (0..1) plus
    the half-L1 distance of the YCbCr histograms (0..1). Measured on the shared
    footage: still talking frames score about 0.01-0.03, cuts 0.05-0.6.
    """

    thumbnail: int = 64  # frames are compared at thumbnail x thumbnail pixels
    min_score: float = 0.04  # never a cut below this score
    neighbour_ratio: float = 3.0  # a cut is the largest score within `neighbours` frame pairs and this many times
    neighbours: int = 3  # their median (a median, so a shot that starts with fast change still counts)
    level_ratio: float = 4.0  # ... and this many times the median score within `level_window` frames
    level_window: int = 15
    black_level: float = 0.1  # a frame whose 98th-percentile luma (0..1) is below this is black (a fade's middle;
    # a percentile, not the mean, so a dark stage with a lit speaker is not black)


def frame_signature(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A frame's grey thumbnail (size, size) in 0..1 and its YCbCr histograms (3 * bins,) summing to 1 each."""
    from PIL import Image

    with Image.open(path) as image:
        image.draft("RGB", (max(image.width // 8, size), max(image.height // 8, size)))  # JPEG decodes at 1/8 size
        small = np.asarray(image.convert("YCbCr").resize((size, size), Image.BILINEAR), np.float32) / 255.0
    histograms = [np.histogram(small[..., c], HISTOGRAM_BINS, (0.0, 1.0))[0] for c in range(3)]
    return small[..., 0], np.concatenate(histograms).astype(np.float32) / (size * size)


def measure_frames(frames: list[Path], settings: ShotSettings = ShotSettings()) -> tuple[np.ndarray, np.ndarray]:
    """(T-1,) how much frame t+1 differs from frame t (see ShotSettings), and (T,) each frame's brightest luma
    (98th percentile, 0..1)."""
    scores = np.zeros(max(len(frames) - 1, 0), np.float32)
    brightness = np.zeros(len(frames), np.float32)
    previous = None
    for t, path in enumerate(progress_bar(frames, desc="shots", unit="frame")):
        signature = frame_signature(path, settings.thumbnail)
        brightness[t] = np.percentile(signature[0], 98)
        if previous is not None:
            grey = np.abs(signature[0] - previous[0]).mean()
            histogram = 0.5 * np.abs(signature[1] - previous[1]).sum() / 3
            scores[t - 1] = grey + histogram
        previous = signature
    return scores, brightness


def find_fades(brightness: np.ndarray, cuts=(), settings: ShotSettings = ShotSettings()) -> list[int]:
    """The middle frame of every run of black frames with brighter frames on both sides (a fade out and in),
    unless a hard cut in `cuts` already lies within the run or next to it."""
    black = np.asarray(brightness) < settings.black_level
    fades, t = [], 0
    while t < len(black):
        if not black[t]:
            t += 1
            continue
        end = t
        while end < len(black) and black[end]:
            end += 1
        if t > 0 and end < len(black) and not any(t - settings.neighbours <= c <= end + settings.neighbours
                                                   for c in cuts):
            fades.append((t + end) // 2)
        t = end
    return fades


def find_cuts(scores: np.ndarray, settings: ShotSettings = ShotSettings()) -> list[int]:
    """0-based indices of the first frame of every shot after the first, from `measure_frames`."""
    cuts = []
    for i, score in enumerate(scores):
        if score < settings.min_score:
            continue
        k = settings.neighbours
        near = np.concatenate([scores[max(0, i - k) : i], scores[i + 1 : i + 1 + k]])
        if len(near) and (score < settings.neighbour_ratio * np.median(near) or score < near.max()):
            continue
        lo, hi = max(0, i - settings.level_window), i + 1 + settings.level_window
        level = np.concatenate([scores[lo:i], scores[i + 1 : hi]])
        if len(level) and score < settings.level_ratio * np.median(level):
            continue
        cuts.append(i + 1)
    return cuts


def shot_ranges(frames: int, cuts) -> list[tuple[int, int]]:
    """[start, end) of every shot of a clip with `frames` frames and shot changes at `cuts`."""
    bounds = [0, *sorted(int(c) for c in cuts if 0 < int(c) < frames), frames]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def steady_segments(frames: int, cuts, margin: int = TRANSITION_MARGIN) -> list[tuple[int, int]]:
    """[start, end) of each shot without the `margin` frames either side of its cuts (for temporal metrics)."""
    segments = []
    for start, end in shot_ranges(frames, cuts):
        a = start + (margin if start > 0 else 0)
        b = end - (margin if end < frames else 0)
        if b > a:
            segments.append((a, b))
    return segments


def run_shots_stage(clip_dir: Path, settings: ShotSettings = ShotSettings(), force: bool = False):
    """Find the shot changes of a clip's frames into <clip>/shots/shots.json; skipped when up to date."""
    clip_dir = Path(clip_dir)
    inputs = {"media": upstream_fingerprint(clip_dir, "media", "shots")}

    def build(partial: Path) -> dict:
        clip = json.loads((clip_dir / "clip.json").read_text())
        fps = float(clip.get("fps", FPS))
        frames = sorted((clip_dir / "frames").glob("*.jpg"))
        scores, brightness = measure_frames(frames, settings)
        hard = find_cuts(scores, settings)
        fades = find_fades(brightness, hard, settings)
        cuts = sorted(hard + fades)
        record = {
            "frames": len(frames),
            "fps": fps,
            "cuts": [{"frame": c, "time": round(c / fps, 3), "kind": "fade" if c in fades else "cut",
                      "score": round(float(scores[c - 1]), 4)} for c in cuts],
            "shots": [list(r) for r in shot_ranges(len(frames), cuts)],
            "note": "frame: 0-based index of the first frame of the new shot (file frames/{frame+1:06d}.jpg); "
                    "time: its start in seconds",
        }
        write_json_atomic(partial / SHOTS_FILE, record)
        return {"cuts": len(cuts), "times": [c["time"] for c in record["cuts"]]}

    return run_stage(clip_dir, SHOTS, inputs, settings, build, force=force)


def read_cuts(clip_dir: Path) -> list[int]:
    """The clip's cut frames from its shots stage; [] when the stage never ran (workspaces from before it)."""
    path = Path(clip_dir) / SHOTS_FILE
    if not path.is_file():
        return []
    try:
        return [int(c["frame"]) for c in json.loads(path.read_text())["cuts"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise Dr2Error(f"{path} is damaged; re-run `dr2 prep --only shots --force` on the video") from None
