"""The demo's speaker: the open body dressed as a person (skin, hair, vest, sleeves, trousers) and given a face.

A plain wooden mannequin is not a person to MediaPipe (it found a face in 1% of
frames and pulled the arms onto the torso), so the demo draws its input like
one: skin-coloured head and hands, a drawn face, a dark vest over light sleeves.
The previews of `dr2 synth` and `dr2 demo` draw the synthesised body the same way
(dr2model/preview.py), so the output looks like the person the input showed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dr2model.render import render_mesh
from dr2prep.bodymodel import skeleton
from dr2prep.bodymodel.loading import BodyModel

# Colours (BGR) of the materials, indexed by MATERIALS.
MATERIALS = ("skin", "hair", "vest", "sleeve", "trousers", "shoes")
COLOURS = np.array([
    (150, 180, 225),  # skin
    (40, 50, 70),  # hair, dark brown
    (90, 60, 40),  # vest, dark blue
    (235, 235, 235),  # sleeves, a white shirt
    (60, 55, 50),  # trousers
    (30, 30, 30),  # shoes
], np.float64)
BACKGROUND = (200, 215, 225)  # a warm wall, darker than the sleeves
SKIN, HAIR, VEST, SLEEVE, TROUSERS, SHOES = range(len(MATERIALS))

TORSO_JOINTS = (0, 3, 6, 9, 13, 14)  # pelvis, spines, collars
ARM_JOINTS = (16, 17, 18, 19)  # shoulders (upper arms), elbows (forearms)
LEG_JOINTS = (1, 2, 4, 5)  # hips (thighs), knees (shins)
FOOT_JOINTS = (7, 8, 10, 11)  # ankles, feet
HAND_JOINTS = (skeleton.LEFT_WRIST, skeleton.RIGHT_WRIST)
FIRST_FINGER_JOINT = 25  # joints 25..54 are the fingers
HAIRLINE_ABOVE_EYES = 0.05  # metres in the rest pose: forehead skin up to here
HAIR_BEHIND_HEAD_JOINT = 0.0  # rest-pose z: the back of the head is hair
HAIR_DOWN_TO_BELOW_EYES = 0.07  # metres: ... down to this far below the eyes (above the ears and nape)

FACE_MARGIN_PX = 4  # the drawn face's strokes reach this far beyond its points

# OpenPose face points (17..67), as the 51 static SMPL-X landmarks give them (first = 17).
FIRST_FACE_POINT = 17
BROWS = (range(17, 22), range(22, 27))
NOSE_BRIDGE, NOSTRILS = range(27, 31), range(31, 36)
EYES = (range(36, 42), range(42, 48))
OUTER_LIPS, INNER_LIPS = range(48, 60), range(60, 68)


@dataclass(frozen=True)
class Figure:
    """The open body's drawable faces with a material each."""

    faces: np.ndarray  # (F, 3) render faces
    material: np.ndarray  # (F,) index into MATERIALS
    on_arm: np.ndarray  # (F,) bool: moved by an arm or hand joint (drawn again when in front of the face)
    vertex_material: np.ndarray  # (V,) index into MATERIALS per vertex (for renderers that colour vertices)


def dress(body: BodyModel) -> Figure:
    """A material per render face, from the joint that moves its first vertex and its place on the rest head."""
    arrays = body.arrays()
    joint_of_vertex = arrays.weights.argmax(axis=1)
    rest = arrays.v_template
    joints = arrays.j_regressor @ rest
    eye_y, head_z = joints[skeleton.LEFT_EYE, 1], joints[skeleton.HEAD, 2]
    material = np.full(len(rest), SKIN)
    material[np.isin(joint_of_vertex, TORSO_JOINTS)] = VEST
    material[np.isin(joint_of_vertex, ARM_JOINTS)] = SLEEVE
    material[np.isin(joint_of_vertex, LEG_JOINTS)] = TROUSERS
    material[np.isin(joint_of_vertex, FOOT_JOINTS)] = SHOES
    on_head = joint_of_vertex == skeleton.HEAD
    hair = (rest[:, 1] > eye_y + HAIRLINE_ABOVE_EYES) | (
        (rest[:, 2] < head_z + HAIR_BEHIND_HEAD_JOINT) & (rest[:, 1] > eye_y - HAIR_DOWN_TO_BELOW_EYES))
    material[on_head & hair] = HAIR
    faces = arrays.render_faces
    arm = np.isin(joint_of_vertex, ARM_JOINTS + HAND_JOINTS) | (joint_of_vertex >= FIRST_FINGER_JOINT)
    return Figure(faces, material[faces[:, 0]], arm[faces[:, 0]], material)


def project(points: np.ndarray, focal_length: float, center) -> np.ndarray:
    """(N, 2) pixels of camera-space points (N, 3) through the pinhole (focal length and principal point in px)."""
    depth = np.maximum(points[:, 2], 1e-3)
    return focal_length * points[:, :2] / depth[:, None] + np.asarray(center, np.float64)


def draw_face(image: np.ndarray, face_points: np.ndarray) -> None:
    """Brows, eyes with irises, nose and lips at the OpenPose face points 17..67 (51, 2 pixels)."""
    def pts(indices):
        return np.round(face_points[[i - FIRST_FACE_POINT for i in indices]] * 8).astype(np.int32)

    scale = np.linalg.norm(face_points[45 - FIRST_FACE_POINT] - face_points[36 - FIRST_FACE_POINT])  # eye corners
    thick = max(1, int(round(scale / 18)))
    for brow in BROWS:
        cv2.polylines(image, [pts(brow)], False, (35, 45, 65), thick + 1, cv2.LINE_AA, shift=3)
    for eye in EYES:
        outline = face_points[[i - FIRST_FACE_POINT for i in eye]]
        centre = outline.mean(axis=0)
        width = np.linalg.norm(outline[3] - outline[0])
        axes = (int(round(width * 0.6 * 8)), int(round(width * 0.32 * 8)))
        c = tuple(np.round(centre * 8).astype(int))
        cv2.ellipse(image, c, axes, 0, 0, 360, (250, 250, 250), -1, cv2.LINE_AA, shift=3)
        cv2.circle(image, c, int(round(width * 0.28 * 8)), (50, 60, 80), -1, cv2.LINE_AA, shift=3)
        cv2.circle(image, c, int(round(width * 0.13 * 8)), (10, 10, 10), -1, cv2.LINE_AA, shift=3)
        cv2.ellipse(image, c, axes, 0, 0, 360, (40, 50, 70), thick, cv2.LINE_AA, shift=3)
    cv2.polylines(image, [pts(NOSE_BRIDGE)], False, (110, 140, 185), thick, cv2.LINE_AA, shift=3)
    cv2.polylines(image, [pts(NOSTRILS)], False, (80, 100, 140), thick + 1, cv2.LINE_AA, shift=3)
    cv2.fillPoly(image, [pts(OUTER_LIPS)], (90, 90, 175), cv2.LINE_AA, shift=3)
    cv2.fillPoly(image, [pts(INNER_LIPS)], (40, 30, 60), cv2.LINE_AA, shift=3)


def render_figure(figure: Figure, vertices: np.ndarray, face_points: np.ndarray, size: tuple[int, int],
                  focal_length: float, center: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 BGR: the dressed body (vertices (V, 3), camera space) with its face drawn on.

    face_points (51, 3) are the OpenPose face points 17..67 in camera space; `center` is the
    principal point (default the image centre). The face is drawn only when it turns towards
    the camera, and whatever of the arms is nearer than the face is drawn again over it.
    """
    width, height = size
    center = (width / 2, height / 2) if center is None else center
    image = np.empty((height, width, 3), np.uint8)
    image[:] = BACKGROUND
    vertices = np.asarray(vertices, np.float64)
    colour = COLOURS[figure.material]
    render_mesh(vertices, figure.faces, size, focal_length, colour, center=center, image=image)
    face_points = np.asarray(face_points, np.float64)
    if faces_the_camera(face_points):
        face_pixels = project(face_points, focal_length, center)
        draw_face(image, face_pixels)
        # arm faces nearer than the face and over its box in the picture (the rest cannot cover it)
        front = figure.on_arm & (vertices[figure.faces, 2].min(axis=1) < face_points[:, 2].min())
        if front.any():
            corners = project(vertices[figure.faces[front]].reshape(-1, 3), focal_length, center).reshape(-1, 3, 2)
            low, high = face_pixels.min(axis=0) - FACE_MARGIN_PX, face_pixels.max(axis=0) + FACE_MARGIN_PX
            front[front] = ((corners.max(axis=1) >= low) & (corners.min(axis=1) <= high)).all(axis=1)
        if front.any():
            render_mesh(vertices, figure.faces[front], size, focal_length, colour[front], center=center, image=image)
    return image


def faces_the_camera(face_points: np.ndarray) -> bool:
    """Whether the face (OpenPose face points 17..67, (51, 3) camera space) turns its front to the camera."""
    eyes_to_mouth = face_points[57 - FIRST_FACE_POINT] - face_points[27 - FIRST_FACE_POINT]
    across = face_points[45 - FIRST_FACE_POINT] - face_points[36 - FIRST_FACE_POINT]
    return bool(np.cross(across, eyes_to_mouth)[2] > 0)
