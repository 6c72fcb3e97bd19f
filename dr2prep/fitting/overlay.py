"""The fitted body drawn over the clip's frames, as `smplx/overlay.mp4` with the clip's audio.

For judging a fit by eye: the SMPL-X mesh (shaded, half transparent) and its
projected keypoint skeleton are drawn with the fit's own camera, frame by
frame, and piped to ffmpeg, so memory does not grow with the clip.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from dr2prep.bodymodel.fast_forward import FastForward
from dr2prep.bodymodel.loading import BodyModel
from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import write_video
from dr2prep.fitting.camera import project
from dr2prep.fitting.params_file import PARAMS_NAME, load_params, smplx_inputs
from dr2prep.keypoints.overlay import draw_keypoints, read_frame
from dr2prep.media import clip_media
from dr2common.progress import progress_bar, say

OVERLAY_NAME = "overlay.mp4"
MESH_COLOUR = np.array([205, 170, 120], np.float32)  # BGR, light blue-grey
MESH_OPACITY = 0.55
DEPTH_LAYERS = 48  # painter's algorithm in this many depth slices (one fill call per slice and shade)
SHADES = 6
BATCH = 16  # frames posed by smplx at once
# Drawing costs grow with the pixels (1.3 s a frame at a phone's 1080x1920 against 0.6 s at half that, measured):
# the overlay is for the eye, so larger frames are drawn at this long side.
MAX_SIDE = 1280


def draw_mesh(image: np.ndarray, pixels: np.ndarray, depth: np.ndarray, faces: np.ndarray,
              normals_z: np.ndarray) -> np.ndarray:
    """Blend a shaded mesh onto image (in place): pixels (V, 2), depth (V,), faces (F, 3).

    Faces are culled when they face away, sorted far to near into depth slices and
    filled one slice and shade at a time (a few hundred OpenCV calls, not one per face).
    """
    facing = normals_z < 0  # the camera looks down +z: a front face's normal points to -z
    faces, shade = faces[facing], np.clip(-normals_z[facing], 0.0, 1.0)
    if not len(faces):
        return image
    face_depth = depth[faces].mean(axis=1)
    layer = np.clip(((face_depth.max() - face_depth) / max(np.ptp(face_depth), 1e-9) * (DEPTH_LAYERS - 1)).astype(int),
                    0, DEPTH_LAYERS - 1)  # 0 = farthest
    level = np.minimum((shade * SHADES).astype(int), SHADES - 1)
    polygons = np.round(pixels[faces] * 8).astype(np.int32)  # 3 bits of sub-pixel precision
    painted = image.copy()
    for d in range(DEPTH_LAYERS):
        in_layer = layer == d
        for s in range(SHADES):
            chosen = in_layer & (level == s)
            if chosen.any():
                colour = tuple(float(c) for c in MESH_COLOUR * (0.35 + 0.65 * (s + 0.5) / SHADES))
                cv2.fillPoly(painted, list(polygons[chosen]), colour, cv2.LINE_AA, shift=3)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, list(polygons), 255, cv2.LINE_8, shift=3)
    blended = cv2.addWeighted(painted, MESH_OPACITY, image, 1 - MESH_OPACITY, 0)
    image[mask > 0] = blended[mask > 0]
    return image


def _posed_frames(body: BodyModel, params: dict):
    """Yield (vertices (V, 3), keypoints (137, 3)) per frame, camera space, from the fitted parameters."""
    layer = body.smplx_layer(batch_size=BATCH)
    inputs = smplx_inputs(params)
    forward = FastForward(body, params["betas"])
    frames = len(params["body_pose"])
    for s in range(0, frames, BATCH):
        batch = {k: v[s : s + BATCH] for k, v in inputs.items()}
        n = len(batch["body_pose"])
        if n < BATCH:  # smplx's layer has a fixed batch size: pad the last batch
            batch = {k: torch.cat([v, v[-1:].expand(BATCH - n, -1)]) for k, v in batch.items()}
        with torch.no_grad():
            vertices = layer(**batch).vertices[:n].numpy()
            points = forward(batch["global_orient"][:n], batch["body_pose"][:n], batch["jaw_pose"][:n],
                             batch["left_hand_pose"][:n], batch["right_hand_pose"][:n], batch["expression"][:n],
                             batch["transl"][:n]).points.numpy()
        yield from zip(vertices, points)


def write_fit_overlay(frames: list[Path], params: dict, body: BodyModel, out: Path, fps: float,
                      audio: Path | None) -> Path:
    """Draw the fitted body over `frames` and encode them (with `audio` when given) into `out`, atomically."""
    count = len(params["body_pose"])
    if len(frames) != count:
        raise Dr2Error(f"{len(frames)} frames but {count} fitted frames; re-run the fit with `dr2 fit-smplx --force`")
    width, height = (int(v) for v in params["image_size"])
    focal = float(params["focal_length"])
    center = torch.as_tensor(params["camera_center"], dtype=torch.float32)
    faces = body.arrays().render_faces
    scale = min(1.0, MAX_SIDE / max(width, height))
    drawn_size = (round(width * scale), round(height * scale))

    def drawn():
        for path, (vertices, points) in progress_bar(zip(frames, _posed_frames(body, params)), total=count,
                                                     desc="overlay", unit="frame"):
            image = read_frame(path, (width, height))
            if scale < 1.0:
                image = cv2.resize(image, drawn_size, interpolation=cv2.INTER_AREA)
            pixels = project(torch.as_tensor(vertices[None]), focal, center)[0].numpy() * scale
            triangles = vertices[faces]
            normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
            normals_z = normals[:, 2] / np.maximum(np.linalg.norm(normals, axis=1), 1e-12)
            draw_mesh(image, pixels, vertices[:, 2], faces, normals_z)
            keypoints = project(torch.as_tensor(points[None]), focal, center)[0].numpy() * scale
            yield draw_keypoints(image, np.concatenate([keypoints, np.ones((len(keypoints), 1), np.float32)], axis=1))

    return write_video(drawn(), out, fps, audio)


def make_fit_overlay(clip_dir: Path, body: BodyModel) -> Path:
    """Write smplx/overlay.mp4 unless it exists (a re-fit replaces the whole smplx/ folder)."""
    clip_dir = Path(clip_dir)
    out = clip_dir / "smplx" / OVERLAY_NAME
    if out.exists():
        say(f"overlay: up to date ({out})")
        return out
    media = clip_media(clip_dir)
    write_fit_overlay(media.frames, load_params(clip_dir / "smplx" / PARAMS_NAME), body, out, media.fps, media.audio)
    say(f"overlay: {out}")
    return out
