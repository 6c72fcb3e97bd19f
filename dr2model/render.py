"""The built-in mesh renderer: flat-shaded triangles drawn far to near with OpenCV, no OpenGL needed.

Good enough to see a gesture; used for the demo's input video and as the
fallback preview renderer. Camera: the fitting pinhole (dr2prep.fitting.camera).
"""

from __future__ import annotations

import cv2
import numpy as np

MESH_COLOR = (120, 170, 210)  # BGR, light wood
BACKGROUND = (245, 245, 245)
SUBPIXEL_BITS = 3


def render_mesh(vertices: np.ndarray, faces: np.ndarray, size: tuple[int, int], focal_length: float,
                color=MESH_COLOR, background=BACKGROUND) -> np.ndarray:
    """(H, W, 3) uint8 BGR image of a mesh given in camera space (metres, y down, z forward).

    vertices (V, 3), faces (F, 3); size is (width, height); principal point at the centre.
    Back faces are skipped and the rest drawn far to near (painter's algorithm).
    """
    width, height = size
    image = np.empty((height, width, 3), np.uint8)
    image[:] = background
    depth = np.maximum(vertices[:, 2], 1e-3)
    pixels = focal_length * vertices[:, :2] / depth[:, None] + np.array([width / 2, height / 2])
    pixels = np.round(pixels * (1 << SUBPIXEL_BITS)).astype(np.int32)

    triangles = vertices[faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    centres = triangles.mean(axis=1)
    facing = (normals * centres).sum(axis=1) < 0  # normal points back towards the camera
    visible = np.flatnonzero(facing & (lengths > 1e-12))
    shade = 0.35 + 0.65 * np.abs(normals[visible, 2]) / lengths[visible]
    order = np.argsort(-centres[visible, 2])
    base = np.asarray(color, dtype=np.float64)
    for index, light in zip(visible[order], shade[order]):
        cv2.fillConvexPoly(image, pixels[faces[index]], (base * light).tolist(), cv2.LINE_AA, shift=SUBPIXEL_BITS)
    return image
