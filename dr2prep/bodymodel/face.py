"""The open body's face: where its 70 OpenPose face landmarks sit and its 10-dim face code.

mannequin-x's head is a featureless egg, so dr2 lays an average adult face on it (this
table) and defines the face code as 10 named landmark displacements (SMPL-X's
`expression` slot). With the user's SMPL-X the face code is SMPL-X's own expression.
"""

import numpy as np

# Landmarks are laid out in a face frame on the head, in millimetres: x to the person's
# left, y up from the eye line, and a protrusion along +z (forward) over the head surface
# found by a ray cast from the front. Proportions of an average adult face (pupils 62 mm
# apart, eye line to chin 97 mm, mouth 48 mm wide); the egg's surface supplies the depth.
EYE_LINE_FRACTION = 0.5  # eye line at half the head's height, the artists' canon

# Face contour (OpenPose 0..16, the person's right first): x as a fraction of the head's
# half-width at that height (so the contour sits on the frontal outline), y in mm, and
# how much the point follows the jaw joint (the mandible carries the lower contour).
CONTOUR = (
    (-0.95, -8.0, 0.0), (-0.95, -25.0, 0.0), (-0.94, -42.0, 0.5), (-0.92, -57.0, 1.0),
    (-0.88, -70.0, 1.0), (-0.80, -81.0, 1.0), (-0.66, -89.0, 1.0), (-0.40, -95.0, 1.0),
    (0.00, -97.0, 1.0),
    (0.40, -95.0, 1.0), (0.66, -89.0, 1.0), (0.80, -81.0, 1.0), (0.88, -70.0, 1.0),
    (0.92, -57.0, 1.0), (0.94, -42.0, 0.5), (0.95, -25.0, 0.0), (0.95, -8.0, 0.0),
)

# OpenPose face 17..69: (x mm, y mm, protrusion mm, jaw weight).
INNER_FACE = (
    # 17-21 right brow (outer -> inner), 22-26 left brow (inner -> outer)
    (-50, 14, 1, 0), (-41, 20, 1, 0), (-31, 22, 1, 0), (-21, 21, 1, 0), (-11, 17, 1, 0),
    (11, 17, 1, 0), (21, 21, 1, 0), (31, 22, 1, 0), (41, 20, 1, 0), (50, 14, 1, 0),
    # 27-30 nose bridge down to the tip, 31-35 nostril base (right -> left)
    (0, 2, 3, 0), (0, -9, 7, 0), (0, -20, 12, 0), (0, -31, 17, 0),
    (-15, -40, 4, 0), (-8, -42, 8, 0), (0, -43, 10, 0), (8, -42, 8, 0), (15, -40, 4, 0),
    # 36-41 right eye (outer corner, upper lid x2, inner corner, lower lid x2)
    (-45, 1, -3, 0), (-37, 5, -2, 0), (-24, 5, -2, 0), (-15, 0, -4, 0), (-24, -4, -3, 0), (-37, -4, -3, 0),
    # 42-47 left eye (inner corner, upper lid x2, outer corner, lower lid x2)
    (15, 0, -4, 0), (24, 5, -2, 0), (37, 5, -2, 0), (45, 1, -3, 0), (37, -4, -3, 0), (24, -4, -3, 0),
    # 48-59 outer lips: right corner, upper lip to the left corner, lower lip back
    (-24, -60, 1, 0.5), (-15, -55, 4, 0), (-6, -53, 6, 0), (0, -54, 6.5, 0), (6, -53, 6, 0), (15, -55, 4, 0),
    (24, -60, 1, 0.5), (15, -66, 4, 0.8), (7, -69, 5.5, 1), (0, -70, 6, 1), (-7, -69, 5.5, 1), (-15, -66, 4, 0.8),
    # 60-67 inner lips: right corner, upper (right -> left), left corner, lower (left -> right)
    (-20, -60, 2, 0.5), (-7, -59, 4.5, 0), (0, -59, 5, 0), (7, -59, 4.5, 0),
    (20, -60, 2, 0.5), (7, -61, 4.5, 1), (0, -61, 5, 1), (-7, -61, 4.5, 1),
    # 68-69 pupils (right, left)
    (-31, 0.5, -2, 0), (31, 0.5, -2, 0),
)

NUM_LANDMARKS = 70
NUM_FACE_CODE = 10

# Other head points of the open body, in the same face frame (mm).
NOSE_TIP = 30          # BODY_25 Nose is face landmark 30 (the nose tip)
PUPILS = (68, 69)      # BODY_25 REye / LEye are the pupils
EAR_HEIGHT_MM = -12.0  # BODY_25 ears: the head's side surface at this height, at mid depth
JAW_JOINT_MM = (0.0, -25.0)      # jaw joint (x, y): the temporomandibular axis, below ear level
JAW_JOINT_DEPTH_MM = 15.0        # ... and this far in front of the head's mid depth
EYEBALL_RADIUS_MM = 12.0         # eye joints: eyeball centres, this far behind the pupils

# The 10-dim face code of the open body. Each entry is a displacement of named landmarks in
# mm per unit coefficient (x to the person's left, y up, z forward), sized so that a
# coefficient of 1 is a clear, ordinary movement (a prior of N(0, 1) fits). They act on
# separate landmark groups or in separate directions, so 2D keypoints pin them down, and the
# mouth ones carry speech (the jaw joint adds opening). Negative values are meaningful too:
# a negative mouth_width purses the lips forward, a negative lips_apart presses them.
FACE_CODE_NAMES = (
    "mouth_width", "upper_lip_up", "lower_lip_down", "lips_apart", "mouth_corners_up",
    "mouth_corner_tilt", "mouth_shift", "brows_up", "brows_frown", "eyes_close",
)
_CORNERS = {48: -1, 54: 1, 60: -1, 64: 1}
FACE_CODE_DISPLACEMENTS = {
    "mouth_width": {
        48: (-6, 0, -3), 54: (6, 0, -3), 60: (-5, 0, -3), 64: (5, 0, -3),
        49: (-3, 0, -1.5), 53: (3, 0, -1.5), 59: (-3, 0, -1.5), 55: (3, 0, -1.5),
        61: (-2, 0, -1), 63: (2, 0, -1), 67: (-2, 0, -1), 65: (2, 0, -1),
        50: (0, -1, 0), 51: (0, -1, 0), 52: (0, -1, 0), 56: (0, 1, 0), 57: (0, 1, 0), 58: (0, 1, 0),
    },
    "upper_lip_up": {
        49: (0, 3, 0), 50: (0, 4, 0.5), 51: (0, 4, 0.5), 52: (0, 4, 0.5), 53: (0, 3, 0),
        61: (0, 3, 0), 62: (0, 3.5, 0), 63: (0, 3, 0), **{i: (0, 1, 0) for i in _CORNERS},
    },
    "lower_lip_down": {
        55: (0, -3, 0), 56: (0, -4, 0.5), 57: (0, -4, 0.5), 58: (0, -4, 0.5), 59: (0, -3, 0),
        65: (0, -3, 0), 66: (0, -3.5, 0), 67: (0, -3, 0), **{i: (0, -1, 0) for i in _CORNERS},
    },
    "lips_apart": {
        61: (0, 1.5, 0), 62: (0, 2, 0), 63: (0, 1.5, 0), 65: (0, -1.5, 0), 66: (0, -2, 0), 67: (0, -1.5, 0),
    },
    "mouth_corners_up": {
        48: (-1.5, 5, -1), 54: (1.5, 5, -1), 60: (-1, 4, -1), 64: (1, 4, -1),
        49: (0, 2, 0), 53: (0, 2, 0), 59: (0, 2.5, 0), 55: (0, 2.5, 0),
        61: (0, 1, 0), 63: (0, 1, 0), 65: (0, 1, 0), 67: (0, 1, 0),
        40: (0, 1, 0), 41: (0, 1, 0), 46: (0, 1, 0), 47: (0, 1, 0),
    },
    "mouth_corner_tilt": {  # the person's left corner up, right corner down
        48: (0, -4, 0), 60: (0, -3.5, 0), 54: (0, 4, 0), 64: (0, 3.5, 0),
        49: (0, -2, 0), 59: (0, -2, 0), 53: (0, 2, 0), 55: (0, 2, 0),
    },
    "mouth_shift": {i: (4, 0, 0) for i in range(48, 68)},  # towards the person's left
    "brows_up": {
        **{i: (0, 6, 0) for i in range(17, 27)}, 19: (0, 7, 0), 24: (0, 7, 0),
        37: (0, 1, 0), 38: (0, 1, 0), 43: (0, 1, 0), 44: (0, 1, 0),
    },
    "brows_frown": {
        19: (1, -1.5, 0), 20: (3, -3, 0), 21: (4, -4, 0), 22: (-4, -4, 0), 23: (-3, -3, 0), 24: (-1, -1.5, 0),
    },
    "eyes_close": {
        37: (0, -4, 0), 38: (0, -4, 0), 43: (0, -4, 0), 44: (0, -4, 0),
        40: (0, 1, 0), 41: (0, 1, 0), 46: (0, 1, 0), 47: (0, 1, 0),
    },
}


def face_code_basis() -> np.ndarray:
    """(70, 3, 10) landmark displacement in metres per unit face-code coefficient."""
    basis = np.zeros((NUM_LANDMARKS, 3, NUM_FACE_CODE))
    for k, name in enumerate(FACE_CODE_NAMES):
        for landmark, offset_mm in FACE_CODE_DISPLACEMENTS[name].items():
            basis[landmark, :, k] = np.asarray(offset_mm) / 1000.0
    return basis


def landmark_jaw_weights() -> np.ndarray:
    """(70,) how much each landmark follows the jaw joint (the rest follows the head)."""
    return np.array([row[2] for row in CONTOUR] + [row[3] for row in INNER_FACE], dtype=np.float64)
