"""The one table from SMPL-X to OpenPose keypoints (BODY_25, hands 21+21, face 70).

Indices point into `smplx.SMPLX(use_face_contour=True)(...).joints` (144 entries: 55
joints, 21 surface points, 51 static + 17 contour face landmarks; see skeleton.py).
The keypoint layout every dr2 stage uses is (137,) = BODY_25, left hand 21, right hand
21, face 70, in this order. OpenPose's "left" is the person's left (SMPL-X's left, +x).
The body and hand rows are SMPLify-X's `smpl_to_openpose(model_type="smplx")`; face
0..16 are the contour and 17..67 the static landmarks as SMPLify-X reads them; the
pupils (68, 69), which SMPLify-X drops, map to SMPL-X's eye surface points.
"""

import numpy as np

BODY_25_NAMES = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
    "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
HAND_NAMES = (
    "Wrist", "Thumb1", "Thumb2", "Thumb3", "Thumb4", "Index1", "Index2", "Index3", "Index4",
    "Middle1", "Middle2", "Middle3", "Middle4", "Ring1", "Ring2", "Ring3", "Ring4",
    "Pinky1", "Pinky2", "Pinky3", "Pinky4",
)
NUM_BODY = 25
NUM_HAND = 21
NUM_FACE = 70
NUM_KEYPOINTS = NUM_BODY + 2 * NUM_HAND + NUM_FACE  # 137

BODY = slice(0, NUM_BODY)
LEFT_HAND = slice(NUM_BODY, NUM_BODY + NUM_HAND)
RIGHT_HAND = slice(NUM_BODY + NUM_HAND, NUM_BODY + 2 * NUM_HAND)
FACE = slice(NUM_BODY + 2 * NUM_HAND, NUM_KEYPOINTS)

BODY_FROM_SMPLX = (55, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65)
LEFT_HAND_FROM_SMPLX = (20, 37, 38, 39, 66, 25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70)
RIGHT_HAND_FROM_SMPLX = (21, 52, 53, 54, 71, 40, 41, 42, 72, 43, 44, 45, 73, 49, 50, 51, 74, 46, 47, 48, 75)
FACE_FROM_SMPLX = tuple(range(127, 144)) + tuple(range(76, 127)) + (56, 57)

# (137,) index into the 144 smplx output joints, in dr2's keypoint order.
OPENPOSE_FROM_SMPLX = np.array(
    BODY_FROM_SMPLX + LEFT_HAND_FROM_SMPLX + RIGHT_HAND_FROM_SMPLX + FACE_FROM_SMPLX, dtype=np.int64
)

# BODY_25 points whose OpenPose definition differs from the SMPL-X joint they map to
# (Neck, RHip, LHip): SMPLify-X gives them zero weight (its joints_to_ign = 1, 9, 12).
BODY_DEFINITION_DIFFERS = (1, 9, 12)

# OpenPose face 68/69 are the pupils (right, left); SMPLify-X does not fit them.
FACE_PUPILS = (68, 69)

# Skeleton edges for drawing, in keypoint indices of each part.
BODY_25_EDGES = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
    (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)
HAND_EDGES = tuple((0 if j % 4 == 1 else j - 1, j) for j in range(1, NUM_HAND))
_FACE_CHAINS = ((0, 17, False), (17, 22, False), (22, 27, False), (27, 31, False), (31, 36, False),
                (36, 42, True), (42, 48, True), (48, 60, True), (60, 68, True))
FACE_EDGES = tuple(
    (i, i + 1 if i + 1 < end else start)
    for start, end, closed in _FACE_CHAINS
    for i in range(start, end if closed else end - 1)
)


def keypoint_names() -> tuple[str, ...]:
    """Names of the 137 keypoints, e.g. 'body.Nose', 'left_hand.Thumb4', 'face.30'."""
    return (
        tuple(f"body.{n}" for n in BODY_25_NAMES)
        + tuple(f"left_hand.{n}" for n in HAND_NAMES)
        + tuple(f"right_hand.{n}" for n in HAND_NAMES)
        + tuple(f"face.{i}" for i in range(NUM_FACE))
    )
