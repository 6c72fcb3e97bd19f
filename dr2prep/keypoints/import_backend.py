"""The `import` backend: a folder of OpenPose `*_keypoints.json` files matched to the clip's frames.

Files are matched, in this order of preference: by name (`000001_keypoints.json`
for `frames/000001.jpg`, what OpenPose writes when run on the clip's frames
with --image_dir); by their frame number, when the numbers span the clip's
frames (OpenPose on a 30 FPS video writes `<name>_000000000000_keypoints.json`,
numbered from 0); or by time, when they span the source video's frames at its
own rate (OpenPose run on the original video). Frames without a file get
confidence 0. Confidences are OpenPose's own. With several people in a file
the speaker is chosen by `tracking.pick_speaker`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from dr2common.errors import Dr2Error
from dr2prep.keypoints.openpose_format import JSON_SUFFIX, N_POINTS, read_frame_json
from dr2prep.keypoints.tracking import pick_speaker
from dr2common.rates import FPS
from dr2common.progress import progress_bar, warn
from dr2prep.stage import sha256_file

SPAN_TOLERANCE = 2  # frames by which a numbered sequence may miss the expected length (rounding of durations)
OUTSIDE_MARGIN = 0.1  # points further than this fraction of the frame outside it mean another resolution
_NUMBER = re.compile(r"(\d+)" + re.escape(JSON_SUFFIX) + "$")


def list_keypoint_files(folder: Path) -> list[Path]:
    """The OpenPose files in `folder`, sorted; a clear error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise Dr2Error(f"{folder} is not a folder; give the folder of OpenPose *{JSON_SUFFIX} files (--keypoints-dir)")
    files = sorted(folder.glob(f"*{JSON_SUFFIX}"))
    if not files:
        raise Dr2Error(f"{folder} holds no *{JSON_SUFFIX} files; run OpenPose with --write_json {folder}")
    return files


def folder_fingerprint(folder: Path) -> str:
    """Digest of the OpenPose files in `folder` (names and contents), the import's input fingerprint."""
    digest = hashlib.sha256()
    for path in list_keypoint_files(folder):
        digest.update(f"{path.name}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def match_files(
    files: list[Path], frame_stems: list[str], source_frames: int | None, source_fps: float | None
) -> list[Path | None]:
    """For each frame of the clip, the JSON file that holds it (None when there is none)."""
    by_name = {f.name[: -len(JSON_SUFFIX)]: f for f in files}
    if set(by_name) <= set(frame_stems):
        return [by_name.get(stem) for stem in frame_stems]

    numbered: dict[int, Path] = {}
    for f in files:
        match = _NUMBER.search(f.name)
        if match is None:
            raise Dr2Error(
                f"cannot tell which frame {f} belongs to (no frame number before {JSON_SUFFIX}); rename the files"
            )
        number = int(match[1])
        if number in numbered:
            raise Dr2Error(
                f"{numbered[number].name} and {f.name} both hold frame {number}; keep one OpenPose run per folder"
            )
        numbered[number] = f
    first = 0 if 0 in numbered else 1  # OpenPose numbers video frames from 0; dr2's frames start at 1
    span = max(numbered) - first + 1
    n_frames = len(frame_stems)
    if abs(span - n_frames) <= SPAN_TOLERANCE:
        return [numbered.get(first + t) for t in range(n_frames)]
    if source_frames and source_fps and abs(span - source_frames) <= SPAN_TOLERANCE:
        warn(f"the OpenPose files span {span} frames at the source's {source_fps:g} FPS; matched to frames by time")
        return [numbered.get(first + min(round(t * source_fps / FPS), span - 1)) for t in range(n_frames)]
    expected = f"the clip's {n_frames} frames" + (f" or the source's {source_frames} frames" if source_frames else "")
    raise Dr2Error(
        f"the {len(files)} OpenPose files span frames {first}..{max(numbered)}, which match neither {expected}; "
        f"run OpenPose on the clip's frames folder (--image_dir) and import that output"
    )


def import_keypoints(
    folder: Path,
    frame_stems: list[str],
    width: int,
    height: int,
    source_frames: int | None = None,
    source_fps: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Read a folder of OpenPose JSON: (T, 137, 3) float64 in the clip's frame order, and a summary."""
    files = list_keypoint_files(folder)
    matched = match_files(files, frame_stems, source_frames, source_fps)
    people = []
    for path in progress_bar(matched, desc="import", unit="frame"):
        people.append(read_frame_json(path) if path is not None else np.zeros((0, N_POINTS, 3)))
    all_points = np.concatenate([p.reshape(-1, 3) for p in people]) if people else np.zeros((0, 3))
    confident = all_points[all_points[:, 2] > 0]
    if len(confident) and (
        (confident[:, 0] < -OUTSIDE_MARGIN * width).any()
        or (confident[:, 0] > (1 + OUTSIDE_MARGIN) * width).any()
        or (confident[:, 1] < -OUTSIDE_MARGIN * height).any()
        or (confident[:, 1] > (1 + OUTSIDE_MARGIN) * height).any()
    ):
        raise Dr2Error(
            f"keypoints in {folder} lie outside the clip's {width}x{height} frames; "
            f"run OpenPose on the clip's frames (same resolution, pixel coordinates) and import that output"
        )
    summary = {
        "files": len(files),
        "frames_without_file": sum(1 for p in matched if p is None),
        "frames_with_several_people": sum(1 for p in people if len(p) > 1),
    }
    return pick_speaker(people, width, height), summary
