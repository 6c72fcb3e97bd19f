"""OpenPose's keypoint layout (BODY_25, hands 21+21, face 70) and its per-frame JSON files.

Also the `keypoints.npz` array every backend writes, which the SMPL-X fit reads.

`keypoints.npz` (one per clip, in `<clip>/keypoints/`):
- `keypoints` (T, 137, 3) float32: frame t is `frames/{t+1:06d}.jpg`. Rows
  0:25 BODY_25, 25:46 left hand, 46:67 right hand, 67:137 face (68 iBUG points
  + right pupil, left pupil). Left/right are the person's own sides.
  Columns: x (right), y (down) in pixels of the frame, pixel centres at
  integer coordinates (as OpenPose); confidence in [0, 1], to be used as a
  weight. Confidence 0 means "not found" and then x = y = 0, as in OpenPose's
  JSON. Values are rounded to `DECIMALS` places so the JSON holds them exactly.
- `detected` (T, 4) bool: whether each part (`PARTS`: body, hand_left,
  hand_right, face) was found in the frame (some confidence > 0).
- `image_size` (2,) int32: width, height of the frames in pixels.
How each backend sets the confidences is said in its module docstring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dr2common.errors import Dr2Error

BODY25_NAMES = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
    "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip
HAND21_NAMES = (
    "Wrist",
    "Thumb1", "Thumb2", "Thumb3", "Thumb4",
    "Index1", "Index2", "Index3", "Index4",
    "Middle1", "Middle2", "Middle3", "Middle4",
    "Ring1", "Ring2", "Ring3", "Ring4",
    "Pinky1", "Pinky2", "Pinky3", "Pinky4",
)  # fmt: skip
N_BODY, N_HAND, N_FACE = 25, 21, 70
FACE_RIGHT_PUPIL, FACE_LEFT_PUPIL = 68, 69  # OpenPose's two extra face points

# Rows of the (137, 3) array, and the JSON field each part is stored in.
BODY = slice(0, 25)
HAND_LEFT = slice(25, 46)
HAND_RIGHT = slice(46, 67)
FACE = slice(67, 137)
N_POINTS = 137
PARTS = ("body", "hand_left", "hand_right", "face")
PART_ROWS = {"body": BODY, "hand_left": HAND_LEFT, "hand_right": HAND_RIGHT, "face": FACE}
JSON_FIELDS = {
    "body": "pose_keypoints_2d",
    "hand_left": "hand_left_keypoints_2d",
    "hand_right": "hand_right_keypoints_2d",
    "face": "face_keypoints_2d",
}
JSON_VERSION = 1.3  # the version OpenPose 1.7 writes
JSON_SUFFIX = "_keypoints.json"
NPZ_NAME = "keypoints.npz"
DECIMALS = 3  # pixels to 1/1000 and confidences to 0.001; JSON and npz hold the same values

# Bones for drawing (OpenPose's own pairs), in the part's own indices.
BODY25_EDGES = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
    (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)  # fmt: skip
HAND_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 4),  # thumb
    (0, 5), (5, 6), (6, 7), (7, 8),  # index
    (0, 9), (9, 10), (10, 11), (11, 12),  # middle
    (0, 13), (13, 14), (14, 15), (15, 16),  # ring
    (0, 17), (17, 18), (18, 19), (19, 20),  # pinky
)


@dataclass(frozen=True)
class KeypointTrack:
    """The contents of keypoints.npz (see the module docstring for the layout)."""

    keypoints: np.ndarray  # (T, 137, 3) float32: x, y pixels, confidence
    detected: np.ndarray  # (T, 4) bool, columns PARTS
    image_size: tuple[int, int]  # width, height

    @property
    def frames(self) -> int:
        return len(self.keypoints)

    def detection_rates(self) -> dict[str, float]:
        """Fraction of frames in which each part was found."""
        if self.frames == 0:
            return {part: 0.0 for part in PARTS}
        return {part: round(float(self.detected[:, i].mean()), 4) for i, part in enumerate(PARTS)}


def quantize(keypoints: np.ndarray) -> np.ndarray:
    """Round to DECIMALS (through float64) and zero the x, y of points with confidence 0.

    The result, as float32, is exactly what a JSON reader gets back from the
    rounded decimal text, so JSON and npz agree bit for bit.
    """
    rounded = np.round(np.asarray(keypoints, dtype=np.float64), DECIMALS)
    rounded[rounded[..., 2] <= 0] = 0.0
    return rounded.astype(np.float32)


def detected_parts(keypoints: np.ndarray) -> np.ndarray:
    """(T, 137, 3) -> (T, 4) bool: a part counts as found when any of its points has confidence > 0."""
    return np.stack([(keypoints[:, rows, 2] > 0).any(axis=1) for rows in PART_ROWS.values()], axis=1)


def frame_json(person: np.ndarray | None) -> dict:
    """OpenPose's JSON for one frame holding `person` (137, 3), or no one when None."""
    people = []
    if person is not None:
        entry = {"person_id": [-1]}
        for part, rows in PART_ROWS.items():
            # round() of the float32 value gives back the short decimal that quantize() rounded to
            entry[JSON_FIELDS[part]] = [round(float(v), DECIMALS) for v in np.asarray(person[rows]).ravel()]
        for part in PARTS:
            entry[JSON_FIELDS[part].replace("_2d", "_3d")] = []
        people.append(entry)
    return {"version": JSON_VERSION, "people": people}


def write_frame_json(path: Path, person: np.ndarray | None) -> None:
    """Write one frame's OpenPose JSON; `person` must already be quantized."""
    Path(path).write_text(json.dumps(frame_json(person), separators=(",", ":")))


def _part(entry: dict, part: str, path: Path) -> np.ndarray:
    size = {"body": N_BODY, "face": N_FACE}.get(part, N_HAND)
    values = entry.get(JSON_FIELDS[part]) or []
    if len(values) == 0:
        return np.zeros((size, 3))
    if len(values) != size * 3:
        hint = " (BODY_25 is needed, run OpenPose with --model_pose BODY_25)" if part == "body" else ""
        raise Dr2Error(f"{path}: {JSON_FIELDS[part]} has {len(values) // 3} points, expected {size}{hint}")
    return np.asarray(values, dtype=np.float64).reshape(size, 3)


def read_frame_json(path: Path) -> np.ndarray:
    """All people of one OpenPose JSON file as (N, 137, 3) float64; a missing part is zeros."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        people = data["people"]
        if not isinstance(people, list):
            raise TypeError("people is not a list")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise Dr2Error(f"{path} is not an OpenPose keypoints file ({error}); remove it or export it again") from None
    out = np.zeros((len(people), N_POINTS, 3))
    for i, entry in enumerate(people):
        for part, rows in PART_ROWS.items():
            out[i, rows] = _part(entry, part, path)
    return out


def save_keypoints_npz(path: Path, keypoints: np.ndarray, image_size: tuple[int, int]) -> None:
    """Write keypoints.npz (keypoints must already be quantized)."""
    np.savez(
        path,
        keypoints=keypoints.astype(np.float32),
        detected=detected_parts(keypoints),
        image_size=np.asarray(image_size, dtype=np.int32),
    )


def load_keypoints(path: Path) -> KeypointTrack:
    """Read `<clip>/keypoints/keypoints.npz` (or the clip directory holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "keypoints" / NPZ_NAME if (path / "keypoints").is_dir() else path / NPZ_NAME
    try:
        with np.load(path, allow_pickle=False) as data:
            keypoints = data["keypoints"].astype(np.float32)
            detected = data["detected"].astype(bool)
            width, height = (int(v) for v in data["image_size"])
    except (OSError, KeyError, ValueError) as error:
        raise Dr2Error(
            f"{path} is not a dr2 keypoints file ({error}); re-run `dr2 prep --only keypoints --force`"
        ) from None
    if keypoints.ndim != 3 or keypoints.shape[1:] != (N_POINTS, 3) or detected.shape != (len(keypoints), len(PARTS)):
        raise Dr2Error(f"{path} holds arrays of shape {keypoints.shape}; re-run `dr2 prep --only keypoints --force`")
    return KeypointTrack(keypoints, detected, (width, height))
