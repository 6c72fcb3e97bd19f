"""MediaPipe Holistic landmarks -> OpenPose points: the correspondence tables, as data.

Each OpenPose point lists the MediaPipe indices whose mean gives it; an empty tuple means MediaPipe has no such point.
"""

# BODY_25 point <- MediaPipe pose-33 landmarks. MediaPipe's left/right are the
# person's own, like OpenPose's. Neck and MidHip have no MediaPipe landmark:
# they are the shoulder and hip midpoints. MediaPipe has no small toes.
POSE33_TO_BODY25 = (
    (0,),  # 0 Nose <- nose
    (11, 12),  # 1 Neck <- mid-shoulders
    (12,),  # 2 RShoulder <- right_shoulder
    (14,),  # 3 RElbow <- right_elbow
    (16,),  # 4 RWrist <- right_wrist
    (11,),  # 5 LShoulder <- left_shoulder
    (13,),  # 6 LElbow <- left_elbow
    (15,),  # 7 LWrist <- left_wrist
    (23, 24),  # 8 MidHip <- mid-hips
    (24,),  # 9 RHip <- right_hip
    (26,),  # 10 RKnee <- right_knee
    (28,),  # 11 RAnkle <- right_ankle
    (23,),  # 12 LHip <- left_hip
    (25,),  # 13 LKnee <- left_knee
    (27,),  # 14 LAnkle <- left_ankle
    (5,),  # 15 REye <- right_eye (centre)
    (2,),  # 16 LEye <- left_eye (centre)
    (8,),  # 17 REar <- right_ear
    (7,),  # 18 LEar <- left_ear
    (31,),  # 19 LBigToe <- left_foot_index
    (),  # 20 LSmallToe: none
    (29,),  # 21 LHeel <- left_heel
    (32,),  # 22 RBigToe <- right_foot_index
    (),  # 23 RSmallToe: none
    (30,),  # 24 RHeel <- right_heel
)

# OpenPose hand point <- MediaPipe hand landmark: the same 21 points in the same
# order (wrist, then thumb, index, middle, ring, pinky from base to tip).
HAND21_TO_OPENPOSE_HAND = tuple((i,) for i in range(21))

# OpenPose face point (68 iBUG landmarks + 2 pupils) <- MediaPipe face-mesh
# vertices (468 mesh + 10 iris points with refine_face_landmarks). Chosen so the
# table is mirror-symmetric (mesh pairs 33/263, 61/291, ... swap sides) and the
# points are spaced along each contour as the iBUG points are; where an iBUG
# point falls between two mesh vertices, both are averaged.
FACE_MESH_TO_FACE70 = (
    # jaw 0-16, from the person's right (top) over the chin (8) to the left
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,),
    (400,), (379,), (365,), (397, 288), (288, 361), (323,), (454,), (356,),
    # right eyebrow 17-21, outer to inner
    (70,), (63,), (105,), (66,), (107,),
    # left eyebrow 22-26, inner to outer
    (336,), (296,), (334,), (293,), (300,),
    # nose bridge 27-30, top to tip
    (168,), (197,), (5,), (4,),
    # nostrils 31-35, right to left (33 under the tip)
    (98,), (97,), (2,), (326,), (327,),
    # right eye 36-41: outer corner, upper lid, inner corner, lower lid
    (33,), (160,), (158,), (133,), (153,), (144,),
    # left eye 42-47: inner corner, upper lid, outer corner, lower lid
    (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips 48-59: right corner, upper lip to the left corner (54), lower lip back
    (61,), (40,), (37,), (0,), (267,), (270,), (291,), (321,), (314,), (17,), (84,), (91,),
    # inner lips 60-67: right corner, upper, left corner (64), lower
    (78,), (81,), (13,), (311,), (308,), (402,), (14,), (178,),
    # pupils 68 (right), 69 (left): the iris centres (needs refine_face_landmarks)
    (468,), (473,),
)  # fmt: skip
