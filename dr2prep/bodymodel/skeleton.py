"""SMPL-X's kinematic tree and the order of `smplx`'s joint output, as plain data.

Both body sources (the user's SMPL-X and the open body) share this tree exactly.
"""

# The 55 SMPL-X joints in model order (smplx.joint_names.JOINT_NAMES[:55]).
JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "jaw", "left_eye_smplhf", "right_eye_smplhf",
    "left_index1", "left_index2", "left_index3", "left_middle1", "left_middle2", "left_middle3",
    "left_pinky1", "left_pinky2", "left_pinky3", "left_ring1", "left_ring2", "left_ring3",
    "left_thumb1", "left_thumb2", "left_thumb3",
    "right_index1", "right_index2", "right_index3", "right_middle1", "right_middle2", "right_middle3",
    "right_pinky1", "right_pinky2", "right_pinky3", "right_ring1", "right_ring2", "right_ring3",
    "right_thumb1", "right_thumb2", "right_thumb3",
)

# Parent of each joint (-1 for the pelvis): SMPL-X's kintree_table[0].
PARENTS = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
    15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)

NUM_JOINTS = 55
NUM_BODY_JOINTS = 21  # body_pose covers joints 1..21 (63 values)
NUM_HAND_JOINTS = 15  # per hand, 45 values
HEAD = 15
JAW = 22
LEFT_EYE = 23
RIGHT_EYE = 24
LEFT_WRIST = 20
RIGHT_WRIST = 21
NUM_POSE_BASIS = (NUM_JOINTS - 1) * 9  # 486 pose-corrective inputs

# The surface points smplx appends after the 55 joints (VertexJointSelector order), keys of
# smplx.vertex_ids.vertex_ids["smplx"]. Output joints 55..75.
VERTEX_POINT_NAMES = (
    "nose", "reye", "leye", "rear", "lear",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    "lthumb", "lindex", "lmiddle", "lring", "lpinky",
    "rthumb", "rindex", "rmiddle", "rring", "rpinky",
)

# Layout of smplx.SMPLX(use_face_contour=True).forward().joints (144 entries).
FIRST_VERTEX_POINT = NUM_JOINTS                                  # 55
FIRST_STATIC_LANDMARK = FIRST_VERTEX_POINT + len(VERTEX_POINT_NAMES)  # 76
NUM_STATIC_LANDMARKS = 51  # OpenPose face 17..67
FIRST_CONTOUR_LANDMARK = FIRST_STATIC_LANDMARK + NUM_STATIC_LANDMARKS  # 127
NUM_CONTOUR_LANDMARKS = 17  # OpenPose face 0..16
NUM_SMPLX_OUTPUT = FIRST_CONTOUR_LANDMARK + NUM_CONTOUR_LANDMARKS  # 144

# find_dynamic_lmk_idx_and_bcoords looks the contour up by the neck chain's yaw in 79 bins.
NUM_CONTOUR_BINS = 79
NECK = 12


def depth_levels(parents=PARENTS) -> list[list[int]]:
    """Joints grouped by depth in the tree: a joint's parent is always in the previous level."""
    depth = [0] * len(parents)
    for joint in range(1, len(parents)):
        depth[joint] = depth[parents[joint]] + 1
    return [[j for j in range(len(parents)) if depth[j] == level] for level in range(max(depth) + 1)]
