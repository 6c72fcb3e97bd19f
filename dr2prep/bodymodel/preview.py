"""A picture of a body model with its OpenPose keypoints, to check the body by eye.

`python -m dr2prep.bodymodel.preview out.png [--smplx-model open|PATH]` draws the rest
pose, a gesture pose, and a face close-up of the gesture (a small OpenCV rasteriser).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from dr2prep.bodymodel import openpose_correspondence as op
from dr2prep.bodymodel.face import FACE_CODE_NAMES
from dr2prep.bodymodel.fast_forward import FastForward
from dr2prep.bodymodel.loading import BodyModel, load_body_model

BODY_PANEL = (640, 760)  # width, height in pixels
FACE_PANEL = (520, 760)
BODY_VIEW = (np.array([0.0, -0.3, 0.0]), 760 / 2.2)  # centre (m) and pixels per metre: 2.2 m tall
MESH_COLOR = (120, 170, 205)  # BGR, light wood
PART_COLORS = {  # BGR
    "body": (40, 40, 220),
    "left_hand": (40, 170, 40),
    "right_hand": (210, 110, 20),
    "face": (20, 200, 230),
}


def gesture_pose(body: BodyModel) -> dict[str, np.ndarray]:
    """A speaking gesture: right hand raised open, left hand pointing forward, head turned,
    jaw open and smiling. Arrays in SMPL-X layout (hands relative to the mean hand)."""
    body_pose = np.zeros((21, 3))
    body_pose[2] = (0.05, 0.1, 0.0)      # spine1: slight twist to the person's left
    body_pose[11] = (0.1, 0.0, 0.0)      # neck
    body_pose[14] = (0.0, 0.15, -0.1)    # head: turned to the person's left, tilted
    body_pose[15] = (0.0, 0.2, -1.0)     # left shoulder: arm down and forward
    body_pose[17] = (0.0, -1.2, 0.0)     # left elbow: forearm forward
    body_pose[19] = (-0.3, 0.0, 0.2)     # left wrist
    body_pose[16] = (0.0, 0.3, -0.35)    # right shoulder: raised to the side
    body_pose[18] = (0.0, 0.2, -1.5)     # right elbow: forearm up
    body_pose[20] = (-0.6, 0.0, 0.0)     # right wrist: palm forward
    left = np.zeros((15, 3))
    for finger in (1, 2, 3):  # middle, pinky, ring curled; index straight (pointing)
        left[3 * finger : 3 * finger + 3, 2] = -1.0
    left[0:3] = -body.hand_mean_left.reshape(15, 3)[0:3]
    left[12:15, 0] = 0.4
    right = -body.hand_mean_right.reshape(15, 3)  # a flat, open hand ...
    right[[0, 3, 6, 9], 1] = (0.25, 0.05, -0.25, -0.1)  # ... with spread fingers
    face_code = np.zeros(10)
    face_code[FACE_CODE_NAMES.index("mouth_corners_up")] = 1.5
    face_code[FACE_CODE_NAMES.index("brows_up")] = 1.0
    return {
        "global_orient": np.zeros(3),
        "body_pose": body_pose.reshape(-1),
        "jaw": np.array([0.25, 0.0, 0.0]),
        "left_hand": left.reshape(-1),
        "right_hand": right.reshape(-1),
        "face": face_code,
        "transl": np.zeros(3),
    }


def rest_pose() -> dict[str, np.ndarray]:
    sizes = {"global_orient": 3, "body_pose": 63, "jaw": 3, "left_hand": 45, "right_hand": 45, "face": 10, "transl": 3}
    return {name: np.zeros(size) for name, size in sizes.items()}


def pose_body(body: BodyModel, pose: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) mesh vertices from smplx and (137, 3) keypoints from FastForward for one pose."""
    tensors = {k: torch.as_tensor(v, dtype=torch.float64)[None] for k, v in pose.items()}
    layer = body.smplx_layer(dtype=torch.float64)
    with torch.no_grad():
        output = layer(
            global_orient=tensors["global_orient"], body_pose=tensors["body_pose"], jaw_pose=tensors["jaw"],
            left_hand_pose=tensors["left_hand"], right_hand_pose=tensors["right_hand"],
            expression=tensors["face"], transl=tensors["transl"],
        )
        points = FastForward(body, dtype=torch.float64)(**tensors).points
    return output.vertices[0].numpy(), points[0].numpy()


def draw_panel(vertices, faces, points, center, scale, title: str, size=BODY_PANEL, point_radius=4) -> np.ndarray:
    """Orthographic front view (the person's left on the image's right), painter's algorithm."""
    width, height = size
    image = np.full((height, width, 3), 250, np.uint8)

    def to_pixels(p):
        return np.stack([width / 2 + (p[:, 0] - center[0]) * scale, height / 2 - (p[:, 1] - center[1]) * scale], axis=1)

    triangles = vertices[faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    light = np.abs(normals[:, 2]) / np.maximum(lengths, 1e-12)
    pixels = np.round(to_pixels(vertices) * 8).astype(np.int32)  # 3 bits of sub-pixel precision
    for f in np.argsort(triangles[:, :, 2].mean(axis=1)):  # far to near
        if lengths[f] < 1e-12:
            continue
        shade = 0.3 + 0.7 * light[f]
        cv2.fillConvexPoly(image, pixels[faces[f]], tuple(int(c * shade) for c in MESH_COLOR), cv2.LINE_AA, shift=3)

    xy = to_pixels(points)
    parts = {"body": (op.BODY, op.BODY_25_EDGES), "left_hand": (op.LEFT_HAND, op.HAND_EDGES),
             "right_hand": (op.RIGHT_HAND, op.HAND_EDGES), "face": (op.FACE, op.FACE_EDGES)}
    for part, (span, edges) in parts.items():
        part_xy = np.round(xy[span] * 8).astype(np.int32)
        for a, b in edges:
            cv2.line(image, tuple(part_xy[a]), tuple(part_xy[b]), PART_COLORS[part], 1, cv2.LINE_AA, shift=3)
        radius = point_radius if part == "body" else max(2, point_radius - 2)
        for p in part_xy:
            cv2.circle(image, tuple(p), radius * 8, PART_COLORS[part], -1, cv2.LINE_AA, shift=3)
    cv2.putText(image, title, (12, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (30, 30, 30), 1, cv2.LINE_AA)
    return image


def render_preview(body: BodyModel, out_png: Path) -> Path:
    """Write a PNG: rest pose and gesture pose, and a face close-up of each, keypoints drawn."""
    faces = body.arrays().render_faces
    rest_vertices, rest_points = pose_body(body, rest_pose())
    gesture_vertices, gesture_points = pose_body(body, gesture_pose(body))
    face_scale = FACE_PANEL[0] / 0.26

    def face_panel(vertices, points, title):
        centre = points[op.FACE].mean(axis=0)
        return draw_panel(vertices, faces, points, centre, face_scale, title, FACE_PANEL, point_radius=5)

    panels = [
        draw_panel(rest_vertices, faces, rest_points, *BODY_VIEW, f"{body.kind} body: rest pose"),
        draw_panel(gesture_vertices, faces, gesture_points, *BODY_VIEW, "gesture"),
        face_panel(rest_vertices, rest_points, "rest face"),
        face_panel(gesture_vertices, gesture_points, "gesture face: jaw open, smile, brows up"),
    ]
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), np.concatenate(panels, axis=1)):
        raise OSError(f"could not write {out_png}")
    return out_png


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_png", type=Path)
    parser.add_argument(
        "--smplx-model", default=None, help="'open' or an SMPL-X .npz (default: $DR2_SMPLX_MODEL, else open)"
    )
    args = parser.parse_args(argv)
    print(render_preview(load_body_model(args.smplx_model), args.out_png))


if __name__ == "__main__":
    main()
