"""Keypoints drawn over the clip's frames, as `keypoints/overlay.mp4` with the clip's audio.

For eyeballing a detection: frames are drawn one at a time and piped to
ffmpeg, so memory does not grow with the clip. The person's right side is
drawn in warm colours and the left in cool ones, so a left/right swap shows.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import write_video
from dr2prep.keypoints.openpose_format import (
    BODY,
    BODY25_EDGES,
    BODY25_NAMES,
    FACE,
    HAND_EDGES,
    HAND_LEFT,
    HAND_RIGHT,
    KeypointTrack,
)
from dr2common.progress import progress_bar

OVERLAY_NAME = "overlay.mp4"
MIN_CONFIDENCE = 0.2  # points below this are not drawn
RIGHT_COLOUR = (0, 96, 255)  # BGR orange-red: the person's right side
LEFT_COLOUR = (255, 160, 0)  # BGR blue: the person's left side
MIDDLE_COLOUR = (0, 220, 0)  # BGR green: neck, spine, head
FACE_COLOUR = (255, 255, 255)


def _side_colour(name: str) -> tuple[int, int, int]:
    if name.startswith("R"):
        return RIGHT_COLOUR
    if name.startswith("L"):
        return LEFT_COLOUR
    return MIDDLE_COLOUR


def _point(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def draw_keypoints(image: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Draw one frame's (137, 3) keypoints onto a BGR image (in place) and return it."""
    scale = max(1, round(max(image.shape[:2]) / 640))  # line width that reads at any resolution
    body = person[BODY]
    for a, b in BODY25_EDGES:
        if body[a, 2] >= MIN_CONFIDENCE and body[b, 2] >= MIN_CONFIDENCE:
            colour = _side_colour(BODY25_NAMES[b]) if BODY25_NAMES[b][0] in "RL" else _side_colour(BODY25_NAMES[a])
            cv2.line(image, _point(body[a]), _point(body[b]), colour, 2 * scale, cv2.LINE_AA)
    for i, p in enumerate(body):
        if p[2] >= MIN_CONFIDENCE:
            cv2.circle(image, _point(p), 3 * scale, _side_colour(BODY25_NAMES[i]), -1, cv2.LINE_AA)
    for rows, colour in ((HAND_LEFT, LEFT_COLOUR), (HAND_RIGHT, RIGHT_COLOUR)):
        hand = person[rows]
        for a, b in HAND_EDGES:
            if hand[a, 2] >= MIN_CONFIDENCE and hand[b, 2] >= MIN_CONFIDENCE:
                cv2.line(image, _point(hand[a]), _point(hand[b]), colour, scale, cv2.LINE_AA)
        for p in hand:
            if p[2] >= MIN_CONFIDENCE:
                cv2.circle(image, _point(p), 2 * scale, colour, -1, cv2.LINE_AA)
    for p in person[FACE]:
        if p[2] >= MIN_CONFIDENCE:
            cv2.circle(image, _point(p), scale, FACE_COLOUR, -1, cv2.LINE_AA)
    return image


def write_overlay(frames: list[Path], track: KeypointTrack, out: Path, fps: float, audio: Path | None) -> Path:
    """Draw `track` over `frames` and encode them (with `audio` when given) into `out`, atomically."""
    if len(frames) != track.frames:
        raise Dr2Error(
            f"{len(frames)} frames but {track.frames} keypoint frames; re-run the keypoints stage with --force"
        )
    width, height = track.image_size

    def drawn():
        for path, person in progress_bar(zip(frames, track.keypoints), total=len(frames), desc="overlay", unit="frame"):
            yield draw_keypoints(read_frame(path, (width, height)), person)

    return write_video(drawn(), out, fps, audio)


def read_frame(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A frame of the media stage (BGR), or a clear error when it is missing, damaged or not `size` (w, h)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != (size[1], size[0]):
        raise Dr2Error(f"frame {path} cannot be read; re-extract the frames with `dr2 prep --only media --force`")
    return image
