"""Stills of a fit over its frames, with a side view of the body, for one or two fits (rows).

Each row: the fit drawn over the chosen frames (mesh + projected skeleton, as smplx/overlay.mp4),
then the body of the last chosen frame seen from its left side (where a leg thrown out sideways
or a thigh pointing at the camera shows plainly).

    python docs/shots/plot_seated_legs.py CLIP_DIR OUT.jpg FRAME[,FRAME...] PARAMS.npz [PARAMS.npz ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from dr2model.render import render_mesh
from dr2prep.bodymodel.loading import load_body_model
from dr2prep.fitting.camera import project
from dr2prep.fitting.overlay import _posed_frames, draw_mesh
from dr2prep.fitting.params_file import load_params
from dr2prep.keypoints.overlay import draw_keypoints, read_frame
from dr2prep.media import clip_media

TILE_HEIGHT = 480


def overlay_tile(frame_path, vertices, points, params, faces) -> np.ndarray:
    width, height = (int(v) for v in params["image_size"])
    scale = TILE_HEIGHT / height
    image = cv2.resize(read_frame(frame_path, (width, height)), (round(width * scale), TILE_HEIGHT),
                       interpolation=cv2.INTER_AREA)
    focal, center = float(params["focal_length"]), torch.as_tensor(params["camera_center"], dtype=torch.float32)
    pixels = project(torch.as_tensor(vertices[None]), focal, center)[0].numpy() * scale
    triangles = vertices[faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    draw_mesh(image, pixels, vertices[:, 2], faces, normals[:, 2] / np.maximum(np.linalg.norm(normals, axis=1), 1e-12))
    keypoints = project(torch.as_tensor(points[None]), focal, center)[0].numpy() * scale
    return draw_keypoints(image, np.concatenate([keypoints, np.ones((len(keypoints), 1), np.float32)], axis=1))


def side_tile(vertices, faces) -> np.ndarray:
    """The body turned 90 degrees about the vertical through its centre: seen from its left side."""
    centre = (vertices.max(axis=0) + vertices.min(axis=0)) / 2
    turn = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # y is down: (x, z) -> (-z, x)
    side = (vertices - centre) @ turn.T + np.array([0.0, 0.0, 4.0])
    size = (TILE_HEIGHT * 3 // 4, TILE_HEIGHT)
    return render_mesh(side, faces, size, 0.9 * TILE_HEIGHT * 4.0 / np.ptp(side[:, 1]))


def main() -> None:
    clip_dir, out, frames, fits = Path(sys.argv[1]), sys.argv[2], [int(f) for f in sys.argv[3].split(",")], sys.argv[4:]
    body = load_body_model("open")
    faces = body.arrays().render_faces
    media = clip_media(clip_dir)
    rows = []
    for fit in fits:
        params = load_params(Path(fit))
        posed = {}
        for index, (vertices, points) in enumerate(_posed_frames(body, params)):
            if index in frames:
                posed[index] = (vertices, points)
            if index >= max(frames):
                break
        tiles = [overlay_tile(media.frames[f], *posed[f], params, faces) for f in frames]
        tiles.append(side_tile(posed[frames[-1]][0], faces))
        row = np.concatenate(tiles, axis=1)
        cv2.putText(row, Path(fit).stem, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        rows.append(row)
    cv2.imwrite(out, np.concatenate(rows, axis=0), [cv2.IMWRITE_JPEG_QUALITY, 85])


if __name__ == "__main__":
    main()
