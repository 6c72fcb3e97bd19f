"""The SMPL-X parameters dr2 reads and writes, by name: one table for every file format.

A sequence of T frames holds `betas` (NUM_BETAS,) once and every key of
FRAME_KEYS per frame; `smplx.SMPLX.forward` takes them as keyword arguments.
"""

NUM_BETAS = 10  # shape coefficients (SMPL-X's first ten; the open body has these ten)
NUM_EXPRESSION = 10  # expression coefficients
# Per-frame parameters, in the order synthesis writes them.
FRAME_KEYS = ("global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose",
              "left_hand_pose", "right_hand_pose", "expression", "transl")
SMPLX_KEYS = ("betas",) + FRAME_KEYS  # every parameter of a sequence
