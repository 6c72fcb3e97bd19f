"""A batched forward pass that computes only what OpenPose keypoints need, for fitting.

With the shape fixed, the rest joints and the few surface vertices behind keypoints are
precomputed; each call is forward kinematics plus skinning of those vertices. It
reproduces `smplx.SMPLX(use_face_contour=True)` to float precision, contour lookup included.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from smplx.lbs import batch_rodrigues
from smplx.utils import rot_mat_to_euler
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

from dr2prep.bodymodel import skeleton
from dr2prep.bodymodel.loading import BodyModel
from dr2prep.bodymodel.openpose_correspondence import OPENPOSE_FROM_SMPLX

# smplx.SMPLX's neck chain for the contour lookup: find_joint_kin_chain(NECK_IDX, parents).
NECK_CHAIN = (12, 9, 6, 3, 0)


class FastOutput(NamedTuple):
    points: torch.Tensor  # (B, 137, 3) OpenPose keypoints in 3D (metres, camera-free model space + transl)
    joints: torch.Tensor  # (B, 55, 3) SMPL-X joints


class FastForward(torch.nn.Module):
    """OpenPose-ordered 3D keypoints of a body model, batched over frames, differentiable.

    `FastForward(body, betas)` fixes the shape (10 betas; zeros if None). Calling it with
    global_orient (B,3), body_pose (B,63), jaw (B,3), left_hand (B,45), right_hand (B,45)
    (axis-angle, relative to the mean hand as in smplx's flat_hand_mean=False), face (B,10)
    (SMPL-X expression / the open body's face code) and transl (B,3) returns FastOutput with
    points (B,137,3) in dr2's keypoint order and joints (B,55,3). Pass `betas=` to a call to
    use other (e.g. optimised) betas for that call. Move it with `.to(device)`.
    """

    def __init__(self, body: BodyModel, betas=None, *, dtype: torch.dtype = torch.float32, device="cpu"):
        super().__init__()
        arrays = body.arrays()
        f64 = np.float64
        betas = np.zeros(body.num_betas) if betas is None else np.asarray(betas, f64).reshape(body.num_betas)

        # Joints are linear in betas and expression (smplx regresses them from the shaped
        # and expressed vertices): J = J_template + J_dirs @ betas + J_expression_dirs @ face.
        j_regressor = arrays.j_regressor.astype(f64)
        joint_template = j_regressor @ arrays.v_template.astype(f64)
        joint_dirs = np.einsum("jv,vcl->jcl", j_regressor, arrays.shape_dirs.astype(f64))
        joint_expression_dirs = np.einsum("jv,vcl->jcl", j_regressor, arrays.expression_dirs.astype(f64))

        # The only vertices keypoints read: smplx's 21 surface points and the landmark faces.
        point_ids = np.array([SMPLX_VERTEX_IDS["smplx"][n] for n in skeleton.VERTEX_POINT_NAMES])
        static_ids = arrays.faces[arrays.lmk_faces_idx]  # (51, 3)
        contour_ids = arrays.faces[arrays.dynamic_lmk_faces_idx]  # (79, 17, 3)
        needed = np.concatenate([point_ids, static_ids.ravel(), contour_ids.ravel()])
        subset, local = np.unique(needed, return_inverse=True)
        n_static = static_ids.size
        point_local = local[: len(point_ids)]
        static_local = local[len(point_ids) : len(point_ids) + n_static].reshape(static_ids.shape)
        contour_local = local[len(point_ids) + n_static :].reshape(contour_ids.shape)

        # Skinning weights restricted to the joints that move these vertices.
        weights = arrays.weights[subset].astype(f64)
        skin_joint = np.flatnonzero(weights.any(axis=0))
        posedirs = arrays.posedirs[subset].astype(f64)  # (S, 3, 486)
        self.has_pose_correctives = bool(np.any(posedirs))
        self.static_contour = bool((arrays.dynamic_lmk_faces_idx == arrays.dynamic_lmk_faces_idx[0]).all())

        def buffer(name, value, kind=dtype):
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=kind), persistent=False)

        buffer("fixed_betas", betas)
        buffer("joint_template", joint_template)
        buffer("joint_dirs", joint_dirs)
        buffer("joint_expression_dirs", joint_expression_dirs)
        self.expression_moves_joints = bool(np.any(joint_expression_dirs))
        buffer("subset_template", arrays.v_template[subset].astype(f64))
        buffer("subset_shape_dirs", arrays.shape_dirs[subset].astype(f64))
        buffer("subset_expression_dirs", arrays.expression_dirs[subset].astype(f64))
        # (486, S, 3), or nothing for a body without pose correctives (the open body)
        buffer("subset_posedirs", posedirs.transpose(2, 0, 1) if self.has_pose_correctives else np.zeros(0))
        buffer("skin_weight", weights[:, skin_joint])
        buffer("base_local", np.unique(np.concatenate([point_local, static_local.ravel()])), torch.long)
        buffer("point_local", point_local, torch.long)
        buffer("static_local", static_local, torch.long)
        buffer("static_bary", arrays.lmk_bary_coords.astype(f64))
        buffer("contour_local", contour_local, torch.long)
        buffer("contour_bary", arrays.dynamic_lmk_bary_coords.astype(f64))
        buffer("hand_mean", np.concatenate([body.hand_mean_left, body.hand_mean_right]).reshape(30, 3))
        buffer("openpose_index", OPENPOSE_FROM_SMPLX, torch.long)
        buffer("rest_joints_fixed", joint_template + joint_dirs @ betas)
        buffer("rest_subset", arrays.v_template[subset].astype(f64) + arrays.shape_dirs[subset].astype(f64) @ betas)

        # Forward kinematics runs level by level over the tree (a joint's parent is always in
        # the level before), so joints are kept in level order until the end.
        levels = skeleton.depth_levels()
        level_order = np.array([j for level in levels for j in level])
        position = np.argsort(level_order)  # position[joint] = its place in level order
        parents = np.array(skeleton.PARENTS)
        bounds = np.cumsum([0] + [len(level) for level in levels])
        self._level_slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        for i, cut in enumerate(self._level_slices[1:]):  # each joint's parent, within the level before
            buffer(f"parent_slot_{i}", position[parents[level_order[cut]]] - bounds[i], torch.long)
        self._neck_chain = [int(position[j]) for j in NECK_CHAIN]
        buffer("level_order", level_order, torch.long)
        buffer("joint_order", position, torch.long)
        buffer("skin_joint_level", position[skin_joint], torch.long)
        self.num_betas = body.num_betas
        self.to(device)

    @property
    def rest_joints(self) -> torch.Tensor:
        """(55, 3) rest joints for the fixed betas."""
        return self.rest_joints_fixed

    def forward(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        jaw: torch.Tensor,
        left_hand: torch.Tensor,
        right_hand: torch.Tensor,
        face: torch.Tensor,
        transl: torch.Tensor,
        *,
        betas: torch.Tensor | None = None,
    ) -> FastOutput:
        batch = global_orient.shape[0]
        dtype, device = self.rest_joints_fixed.dtype, self.rest_joints_fixed.device
        eyes = torch.zeros(batch, 2, 3, dtype=dtype, device=device)
        hands = torch.cat([left_hand.reshape(batch, 15, 3), right_hand.reshape(batch, 15, 3)], dim=1) + self.hand_mean
        trunk = [global_orient.reshape(batch, 1, 3), body_pose.reshape(batch, 21, 3), jaw.reshape(batch, 1, 3)]
        full_pose = torch.cat([*trunk, eyes, hands], dim=1)
        rotations = batch_rodrigues(full_pose[:, self.level_order].reshape(-1, 3))
        rotations = rotations.reshape(batch, skeleton.NUM_JOINTS, 3, 3)  # level order

        if betas is None:
            rest_joints = self.rest_joints_fixed.expand(batch, -1, -1)
            rest_subset = self.rest_subset.expand(batch, -1, -1)
        else:
            betas = betas.reshape(-1, self.num_betas).expand(batch, -1)
            rest_joints = self.joint_template + torch.einsum("jcl,bl->bjc", self.joint_dirs, betas)
            rest_subset = self.subset_template + torch.einsum("scl,bl->bsc", self.subset_shape_dirs, betas)
        if self.expression_moves_joints:
            rest_joints = rest_joints + torch.einsum("jcl,bl->bjc", self.joint_expression_dirs, face)
        world_rot, world_pos, rest_level = self._kinematics(rotations, rest_joints)
        joints = world_pos[:, self.joint_order]

        # The contour's look-up row depends on the neck's yaw: skin only the vertices of the
        # rows this batch uses (a batch of nearby frames uses few rows).
        if self.static_contour:
            contour_bin = torch.zeros(batch, dtype=torch.long, device=device)
            active = torch.arange(self.rest_subset.shape[0], device=device)
        else:
            contour_bin = self._contour_bin(rotations)
            rows = self.contour_local[torch.unique(contour_bin)].reshape(-1)
            active = torch.unique(torch.cat([self.base_local, rows]))
        where = torch.full((self.rest_subset.shape[0],), -1, dtype=torch.long, device=device)
        where[active] = torch.arange(len(active), device=device)

        # Linear blend skinning of the active vertices, as smplx.lbs.
        vertices = rest_subset[:, active] + torch.einsum("scl,bl->bsc", self.subset_expression_dirs[active], face)
        if self.has_pose_correctives:
            eye3 = torch.eye(3, dtype=dtype, device=device)
            pose_feature = (rotations[:, self.joint_order[1:]] - eye3).reshape(batch, -1)
            posedirs = self.subset_posedirs[:, active].reshape(pose_feature.shape[1], -1)
            vertices = vertices + (pose_feature @ posedirs).reshape(batch, -1, 3)
        rot = world_rot[:, self.skin_joint_level]
        trans = world_pos[:, self.skin_joint_level] - (rot @ rest_level[:, self.skin_joint_level, :, None]).squeeze(-1)
        transforms = torch.cat([rot.reshape(batch, -1, 9), trans], dim=2)  # (B, used joints, 12)
        # one (S, J) @ (J, B*12) product rather than B small ones
        blended = self.skin_weight[active] @ transforms.transpose(0, 1).reshape(transforms.shape[1], -1)
        blended = blended.reshape(-1, batch, 4, 3).transpose(0, 1)  # (B, S, 4, 3): rotation rows, translation
        posed = (blended[:, :, :3] @ vertices.unsqueeze(-1)).squeeze(-1) + blended[:, :, 3]

        surface_points = posed[:, where[self.point_local]]
        static = torch.einsum("blfi,lf->bli", posed[:, where[self.static_local]], self.static_bary)
        frame = torch.arange(batch, device=device)[:, None, None]
        contour_vertices = posed[frame, where[self.contour_local[contour_bin]]]
        contour = torch.einsum("blfi,blf->bli", contour_vertices, self.contour_bary[contour_bin])

        smplx_output = torch.cat([joints, surface_points, static, contour], dim=1)
        points = smplx_output[:, self.openpose_index] + transl.reshape(batch, 1, 3)
        return FastOutput(points=points, joints=joints + transl.reshape(batch, 1, 3))

    def _kinematics(self, rotations: torch.Tensor, rest_joints: torch.Tensor):
        """World rotations (B,55,3,3), positions (B,55,3) and rest joints (B,55,3), level order."""
        rest_level = rest_joints[:, self.level_order]
        root = self._level_slices[0]
        level_rot, level_pos = [rotations[:, root]], [rest_level[:, root]]
        for i, cut in enumerate(self._level_slices[1:]):
            slot = getattr(self, f"parent_slot_{i}")
            parent_joint = rest_level[:, self._level_slices[i]][:, slot]
            parent_rot = level_rot[-1][:, slot]
            level_rot.append(parent_rot @ rotations[:, cut])
            offset = rest_level[:, cut] - parent_joint
            level_pos.append(level_pos[-1][:, slot] + torch.einsum("bnij,bnj->bni", parent_rot, offset))
        return torch.cat(level_rot, dim=1), torch.cat(level_pos, dim=1), rest_level

    def _contour_bin(self, rotations: torch.Tensor) -> torch.Tensor:
        """(B,) row of the contour look-up table, computed exactly as smplx does."""
        batch = rotations.shape[0]
        relative = torch.eye(3, dtype=rotations.dtype, device=rotations.device).unsqueeze(0).repeat(batch, 1, 1)
        for slot in self._neck_chain:  # rotations are in level order
            relative = torch.bmm(rotations[:, slot], relative)
        angle = torch.round(torch.clamp(-rot_mat_to_euler(relative) * 180.0 / np.pi, max=39)).to(dtype=torch.long)
        negative = angle.lt(0).to(dtype=torch.long)
        beyond = angle.lt(-39).to(dtype=torch.long)
        negative_bins = beyond * 78 + (1 - beyond) * (39 - angle)
        return negative * negative_bins + (1 - negative) * angle
