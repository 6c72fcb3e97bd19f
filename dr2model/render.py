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
DEPTH_SLICES = 64  # faces are drawn far to near in this many slices of equal face count
SHADE_LEVELS = 12  # shading is quantised so that one fillPoly call draws a whole (slice, shade) group
AMBIENT = 0.35  # brightness of a face seen edge-on; 1.0 when it faces the camera


def render_mesh(vertices: np.ndarray, faces: np.ndarray, size: tuple[int, int], focal_length: float,
                color=MESH_COLOR, background=BACKGROUND, center: tuple[float, float] | None = None,
                image: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 BGR image of a mesh given in camera space (metres, y down, z forward).

    vertices (V, 3), faces (F, 3); `color` is one BGR colour or one per face (F, 3); size is
    (width, height); `center` is the principal point in pixels (default the image centre).
    Back faces are skipped; the rest are sorted far to near and drawn in `DEPTH_SLICES` slices,
    each with one OpenCV call per shaded colour (painter's algorithm: a few hundred calls a frame
    instead of one per face, about 4x faster). `image`, when given, is drawn on in place and returned.
    """
    width, height = size
    if image is None:
        image = np.empty((height, width, 3), np.uint8)
        image[:] = background
    vertices = np.asarray(vertices, np.float32)
    cx, cy = center if center is not None else (width / 2, height / 2)
    depth = np.maximum(vertices[:, 2], 1e-3)
    pixels = focal_length * vertices[:, :2] / depth[:, None] + np.array([cx, cy], np.float32)
    pixels = np.round(pixels * (1 << SUBPIXEL_BITS)).astype(np.int32)

    triangles = vertices[faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    centres = triangles.sum(axis=1)  # 3 x the centroid: only signs and order are used
    facing = np.einsum("ij,ij->i", normals, centres) < 0  # normal points back towards the camera
    visible = np.flatnonzero(facing)
    if not len(visible):
        return image
    normals = normals[visible]
    lengths = np.sqrt(np.einsum("ij,ij->i", normals, normals)) + 1e-12
    level = np.minimum(np.abs(normals[:, 2]) / lengths * SHADE_LEVELS, SHADE_LEVELS - 1).astype(np.int64)
    light = AMBIENT + (1 - AMBIENT) * (level + 0.5) / SHADE_LEVELS
    colors = np.asarray(color, np.float64)
    colors = colors[visible] if colors.ndim == 2 else np.broadcast_to(colors, (len(visible), 3))
    shaded = np.round(colors * light[:, None]).astype(np.int64)
    far_to_near = np.argsort(-centres[visible, 2])
    depth_slice = np.empty(len(visible), np.int64)
    depth_slice[far_to_near] = np.arange(len(visible)) * DEPTH_SLICES // len(visible)
    group = depth_slice * (1 << 24) + (shaded[:, 0] * 256 + shaded[:, 1]) * 256 + shaded[:, 2]
    grouped = np.argsort(group, kind="stable")
    group, polygons = group[grouped], pixels[faces[visible[grouped]]]
    starts = np.flatnonzero(np.r_[True, np.diff(group) != 0])
    ends = np.r_[starts[1:], len(group)]
    for start, end in zip(starts, ends):
        cv2.fillPoly(image, polygons[start:end], shaded[grouped[start]].tolist(), cv2.LINE_AA, shift=SUBPIXEL_BITS)
    return image
