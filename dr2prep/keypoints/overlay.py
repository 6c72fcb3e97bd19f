"""Keypoints drawn over the clip's frames, as `keypoints/overlay.mp4` with the clip's audio.

For eyeballing a detection: frames are drawn one at a time and piped to
ffmpeg, so memory does not grow with the clip. The person's right side is
drawn in warm colours and the left in cool ones, so a left/right swap shows.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import cv2
import ffmpeg
import numpy as np

from dr2prep.errors import Dr2Error
from dr2prep.ffmpeg_tools import ffmpeg_exe
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
from dr2prep.progress import progress_bar

OVERLAY_NAME = "overlay.mp4"
MIN_CONFIDENCE = 0.2  # points below this are not drawn
RIGHT_COLOUR = (0, 96, 255)  # BGR orange-red: the person's right side
LEFT_COLOUR = (255, 160, 0)  # BGR blue: the person's left side
MIDDLE_COLOUR = (0, 220, 0)  # BGR green: neck, spine, head
FACE_COLOUR = (255, 255, 255)
CRF = 23  # x264 quality: fine for looking at, small on disk


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


def _encoder_args(out: Path, width: int, height: int, fps: float, audio: Path | None) -> list[str]:
    video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="bgr24", s=f"{width}x{height}", framerate=fps)
    video = video.filter("pad", "ceil(iw/2)*2", "ceil(ih/2)*2")  # x264's yuv420p needs even sizes
    streams = [video] + ([ffmpeg.input(str(audio)).audio] if audio else [])
    options = {"vcodec": "libx264", "pix_fmt": "yuv420p", "crf": CRF, "preset": "veryfast", "f": "mp4"}
    if audio:
        options["acodec"] = "aac"  # no -shortest: every frame is kept even when the audio ends a little early
    args = ffmpeg.output(*streams, str(out), **options).compile(cmd=ffmpeg_exe(), overwrite_output=True)
    return args[:1] + ["-hide_banner", "-nostdin", "-v", "error"] + args[1:]


def write_overlay(frames: list[Path], track: KeypointTrack, out: Path, fps: float, audio: Path | None) -> Path:
    """Draw `track` over `frames` and encode them (with `audio` when given) into `out`, atomically."""
    if len(frames) != track.frames:
        raise Dr2Error(
            f"{len(frames)} frames but {track.frames} keypoint frames; re-run the keypoints stage with --force"
        )
    width, height = track.image_size
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(_encoder_args(tmp, width, height, fps, audio), stdin=subprocess.PIPE, stderr=log)
        try:
            drawn = progress_bar(zip(frames, track.keypoints), total=len(frames), desc="overlay", unit="frame")
            for path, person in drawn:
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None or image.shape[:2] != (height, width):
                    raise Dr2Error(
                        f"frame {path} cannot be read; re-extract the frames with `dr2 prep --only media --force`"
                    )
                process.stdin.write(draw_keypoints(image, person).tobytes())
            process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its log says why
        except BaseException:
            process.kill()
            process.wait()
            tmp.unlink(missing_ok=True)
            raise
        code = process.wait()
        log.seek(0)
        message = log.read().decode(errors="replace").strip()
    if code != 0:
        tmp.unlink(missing_ok=True)
        first = message.splitlines()[0] if message else f"exit code {code}"
        raise Dr2Error(f"ffmpeg could not write {out} ({first}); check free disk space")
    os.replace(tmp, out)
    return out
