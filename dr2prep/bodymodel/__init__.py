"""Body models for dr2: the user's SMPL-X or the open body, and a fast keypoint forward pass.

Everything downstream speaks SMPL-X parameters; see loading.BodyModel and fast_forward.FastForward.
This file imports nothing, so a lookup table (skeleton, openpose_correspondence, face)
loads without torch or smplx.
"""
