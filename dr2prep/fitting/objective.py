"""The per-frame SMPLify-X objective with DR²'s motion loss, evaluated for a batch of frames.

Per frame the variables are body_pose (63 rotations, or VPoser v1.0's 32-dim code
when the user gives its snapshot), left/right hand (12 MANO PCA coefficients with a
licensed SMPL-X, else 45 rotations), jaw (3), face (10) and translation (3: x, y in
metres and log z, so depth stays positive and its steps are relative); betas and
global orientation are shared by the clip.

The data term is measured in millimetres at the body (pixel error / pixels per
millimetre at the reference frame's depth), so one set of weights serves any
resolution, focal length and framing. Prior weights enter squared, as in SMPLify-X.
"""

from __future__ import annotations

import numpy as np
import torch
from smplx.lbs import batch_rodrigues

from dr2prep.bodymodel.fast_forward import FastForward
from dr2prep.bodymodel.hand_limits import hand_limits
from dr2prep.bodymodel.loading import BodyModel
from dr2prep.bodymodel.openpose_correspondence import (
    BODY_DEFINITION_DIFFERS,
    FACE,
    FACE_PUPILS,
    LEFT_HAND,
    NUM_KEYPOINTS,
    RIGHT_HAND,
)
from dr2prep.fitting import losses
from dr2prep.fitting.camera import project
from dr2prep.fitting.settings import PriorWeights

# Order and sizes of the per-frame variables in one flat vector (hands resized for PCA).
GROUPS = ("body_pose", "left_hand", "right_hand", "jaw", "face", "transl")
VPOSER_CODE_SIZE = 32
MOTION_GROUPS = ("body_pose", "left_hand", "right_hand")  # DR²'s motion loss: b, h_l, h_r
JAW_AXIS_WEIGHTS = (1.0, 10.0, 10.0)  # SMPLify-X: opening the jaw (x) is cheap, twisting it (y, z) is not


def _rest_pose_of_a_speaker() -> np.ndarray:
    """(63,) the body prior's centre: arms lowered, elbows half bent forwards, the rest straight.

    SMPL-X's zero pose is a T-pose; an L2 prior around it pulls lowered arms up and, with the
    pitch of the body free, tilts the whole body to make up for it.
    """
    pose = np.zeros((21, 3))
    pose[15, 2], pose[16, 2] = -1.2, 1.2  # left / right shoulder: arm lowered about 70 degrees
    pose[17, 1], pose[18, 1] = -0.6, 0.6  # left / right elbow: forearm half forwards
    return pose.reshape(-1)


BODY_POSE_MEAN = _rest_pose_of_a_speaker()
# body_pose joints the prior holds near the rest pose more firmly than the arms: hips, knees, ankles, feet
# and spine1-3 (STIFFNESS), the neck less so (the face observes the head). In footage of a speaker the
# torso's pitch is barely observed (it moves the 2D points only at second order) and the legs often not at
# all, so a weak prior let a few pixels of keypoint-definition mismatch lay the body back 30-65 degrees with
# the legs thrown forward (both real test clips); benchmarks/bench_fit.py measures the effect on accuracy.
STIFF_JOINTS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
STIFFNESS = 10.0
NECK = 11
NECK_STIFFNESS = 3.0
# BODY_25 knees, ankles and feet: detectors guess legs that are cropped or hidden (a lectern, a desk) at
# confidences up to about 0.75 (MediaPipe on the TEDx clip), so below this a leg point is not fitted.
LOWER_BODY = (10, 11, 13, 14, 19, 20, 21, 22, 23, 24)
MIN_LEG_CONFIDENCE = 0.8
# Seated speakers: a thigh seen much shorter than it is points at the camera. The isotropic hip prior made
# throwing the leg out sideways as cheap as flexing it, and from the hanging rest pose flexing hardly moves
# the knee in the image (second order) while the robust data term has all but given up on a knee that far
# off, so the fit reached the knee sideways (a leg out 30-75 degrees in 41 % of seated_speaker_20s's frames).
# Three leg priors keep legs where people keep them:
# - thigh flexion from foreshortening: where hip and knee are both detected, the hip prior's flexion centre is
#   the angle out of the image plane that the thigh's seen length implies, acos(seen / (FULL_LENGTH_SEEN x
#   its length at the body's scale)), forwards (people sit; they do not stand with a thigh far behind them).
#   A standing leg (seen at 90 %+ of its length) keeps 0; a missing knee keeps 0 (the standing default);
# - abduction: a hinge on how far the knee leaves the body's sagittal plane (the thigh's angle out to its
#   own side, whatever the flexion), free up to ABDUCTION_FREE (knees apart on a chair), steep beyond;
# - shins plumb: the knee's flexion centre is that same thigh flexion (body_pose x: hip flexes negative, knee
#   positive), so with the ankles unseen a seated thigh gets a hanging shin, not one pointing at the camera;
#   a standing leg keeps its straight knee; seen ankles still move the knee through the data term. (Tying
#   the knee to the hip's current flexion instead coupled the two in the prior and, through the solver's few
#   iterations, moved the demo's fitted arms: upper-body MPJPE 39.5 -> 48.7 mm.)
HIPS = (0, 1)  # body_pose rows of the left and right hip
HIP_FLEXION = (0, 3)  # their x components in the 63 body_pose values (forward flexion is negative)
KNEE_FLEXION = (9, 12)  # the knees' x components in the 63 body_pose values (bending is positive)
THIGH_KEYPOINTS = ((12, 13), (9, 10))  # BODY_25 (hip, knee) of the left and right leg
THIGH_JOINTS = ((1, 4), (2, 5))  # SMPL-X (hip, knee) of the left and right leg
FULL_LENGTH_SEEN = 0.9  # a thigh seen at this share of its length or more is taken as upright
THIGH_REST = (0.0, -1.0, 0.0)  # the thigh's direction in the rest pose (down), in the pelvis's frame
ABDUCTION_FREE = np.radians(25.0)
ABDUCTION_STIFFNESS = 30.0  # per unit of sin(angle) beyond the free range, times the stage's body weight


def hip_abduction(body_pose: torch.Tensor) -> torch.Tensor:
    """(B, 2) sine of each thigh's angle out to its own side of the sagittal plane (left, right)."""
    rotations = batch_rodrigues(body_pose[:, : 3 * len(HIPS)].reshape(-1, 3)).reshape(-1, len(HIPS), 3, 3)
    thigh = rotations @ rotations.new_tensor(THIGH_REST)  # (B, 2, 3), x = the body's left
    return torch.stack([thigh[:, 0, 0], -thigh[:, 1, 0]], dim=1)


def thigh_flexion(keypoints: torch.Tensor, thigh_px: torch.Tensor) -> torch.Tensor:
    """(B, 2) forward flexion (radians, >= 0) of the left and right thigh implied by its seen length.

    keypoints (B, 137, 3); thigh_px (2,) each thigh's full length in pixels at the body. A leg
    whose hip or knee is below MIN_LEG_CONFIDENCE gets 0.
    """
    angles = []
    for (hip, knee), full in zip(THIGH_KEYPOINTS, thigh_px):
        seen = (keypoints[:, knee, :2] - keypoints[:, hip, :2]).norm(dim=-1)
        ratio = (seen / (FULL_LENGTH_SEEN * full)).clamp(0.0, 1.0)
        confident = torch.minimum(keypoints[:, hip, 2], keypoints[:, knee, 2]) >= MIN_LEG_CONFIDENCE
        angles.append(torch.where(confident, torch.arccos(ratio), torch.zeros_like(ratio)))
    return torch.stack(angles, dim=1)


def body_prior_scale() -> np.ndarray:
    """(63,) the body prior's weight per rotation component: STIFFNESS on STIFF_JOINTS, NECK_STIFFNESS, else 1."""
    scale = np.ones((21, 3), np.float32)
    scale[list(STIFF_JOINTS)] = STIFFNESS
    scale[NECK] = NECK_STIFFNESS
    return scale.reshape(-1)


def keypoint_weights(hands: float, face: float) -> torch.Tensor:
    """(137,) data weight per keypoint: points whose definition differs from SMPL-X get 0."""
    weights = torch.ones(NUM_KEYPOINTS)
    weights[LEFT_HAND] = hands
    weights[RIGHT_HAND] = hands
    weights[FACE] = face
    weights[list(BODY_DEFINITION_DIFFERS)] = 0.0
    weights[[FACE.start + i for i in FACE_PUPILS]] = 0.0
    return weights


class FrameLayout:
    """Where each group lives in the flat per-frame vector, and how hands become rotations."""

    def __init__(self, body: BodyModel, vposer: torch.nn.Module | None = None):
        self.hand_pca = body.hand_pca
        self.vposer = vposer
        hand_size = 45 if body.hand_pca is None else body.hand_pca.left.shape[0]
        body_size = 63 if vposer is None else VPOSER_CODE_SIZE
        sizes = {"body_pose": body_size, "left_hand": hand_size, "right_hand": hand_size, "jaw": 3,
                 "face": body.num_expression, "transl": 3}
        self.slices, start = {}, 0
        for name in GROUPS:
            self.slices[name] = slice(start, start + sizes[name])
            start += sizes[name]
        self.size = start
        # Box constraints: the open body's full hand rotations stay inside its hand joint limits
        # (hand_limits.py), enforced by projecting every step; everything else is free.
        self.lower, self.upper = np.full(start, -np.inf), np.full(start, np.inf)
        if body.hand_pca is None:
            for side, mean in (("left", body.hand_mean_left), ("right", body.hand_mean_right)):
                lower, upper = hand_limits(side)
                self.lower[self.slices[f"{side}_hand"]] = lower.reshape(-1) - np.asarray(mean).reshape(-1)
                self.upper[self.slices[f"{side}_hand"]] = upper.reshape(-1) - np.asarray(mean).reshape(-1)
        self._bounds: dict = {}

    def split(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: x[:, part] for name, part in self.slices.items()}

    def clamp(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, D) projected into the variables' bounds."""
        key = (x.device, x.dtype)
        if key not in self._bounds:
            self._bounds[key] = tuple(torch.as_tensor(b, dtype=x.dtype, device=x.device) for b in (self.lower, self.upper))
        return torch.maximum(torch.minimum(x, self._bounds[key][1]), self._bounds[key][0])

    def body_pose(self, groups: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, 63) body rotations (decoded from the VPoser code when there is one)."""
        if self.vposer is None:
            return groups["body_pose"]
        return self.vposer.decode(groups["body_pose"])

    def full_hands(self, groups: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 45) rotations of each hand, relative to the mean hand."""
        if self.hand_pca is None:
            return groups["left_hand"], groups["right_hand"]
        return self.hand_pca.to_full(groups["left_hand"], "left"), self.hand_pca.to_full(groups["right_hand"], "right")

    def motion_mask(self, translation_ratio: float) -> np.ndarray:
        """(D,) weight of each variable in the motion loss, relative to ω (translation: ω_t / ω)."""
        mask = np.zeros(self.size)
        for name in MOTION_GROUPS:
            mask[self.slices[name]] = 1.0
        mask[self.slices["transl"]] = translation_ratio
        return mask


def to_translation(variables: torch.Tensor) -> torch.Tensor:
    """(B, 3) translation variables (x, y, log z) -> SMPL-X transl (B, 3) in metres."""
    return torch.cat([variables[:, :2], torch.exp(variables[:, 2:3])], dim=1)


def from_translation(transl: np.ndarray) -> np.ndarray:
    """Inverse of to_translation, numpy (..., 3)."""
    transl = np.asarray(transl, dtype=np.float64)
    return np.concatenate([transl[..., :2], np.log(np.maximum(transl[..., 2:3], 1e-3))], axis=-1)


class Objective:
    """L_fit = L_SMPLify-X + ω‖b − b̂‖² + ω‖h_l − ĥ_l‖² + ω‖h_r − ĥ_r‖² (+ ω_t‖t − t̂‖², ours).

    `pixels_per_mm` converts pixel errors to millimetres at the body; `rho` is the
    Geman-McClure scale in millimetres.
    """

    def __init__(self, body: BodyModel, forward: FastForward, focal_length: float, center, rho: float,
                 pixels_per_mm: float, vposer: torch.nn.Module | None = None):
        self.layout = FrameLayout(body, vposer)
        self.forward = forward
        self.focal_length = float(focal_length)
        self.rho = float(rho)
        self.pixels_per_mm = float(pixels_per_mm)
        device = forward.rest_joints.device
        self.device = device
        self.center = torch.as_tensor(np.asarray(center, dtype=np.float32), device=device)
        self.jaw_axis = torch.tensor(JAW_AXIS_WEIGHTS, device=device)
        self.body_mean = torch.as_tensor(np.asarray(BODY_POSE_MEAN, dtype=np.float32).reshape(-1), device=device)
        self.body_scale = torch.as_tensor(body_prior_scale(), device=device)
        rest = forward.rest_joints.detach()
        self.thigh_px = torch.stack([(rest[knee] - rest[hip]).norm() for hip, knee in THIGH_JOINTS]) * (
            1000.0 * self.pixels_per_mm)

    def points(self, x: torch.Tensor, global_orient: torch.Tensor, betas: torch.Tensor | None = None):
        """(B, 137, 3) camera-space keypoints and (B, 137, 2) their projections in pixels."""
        groups = self.layout.split(x)
        left, right = self.layout.full_hands(groups)
        out = self.forward(global_orient.expand(x.shape[0], 3), self.layout.body_pose(groups), groups["jaw"], left,
                           right, groups["face"], to_translation(groups["transl"]), betas=betas)
        return out.points, project(out.points, self.focal_length, self.center)

    def joints(self, x: torch.Tensor, global_orient: torch.Tensor) -> torch.Tensor:
        """(B, 55, 3) SMPL-X joints in camera space (metres)."""
        groups = self.layout.split(x)
        left, right = self.layout.full_hands(groups)
        return self.forward(global_orient.expand(x.shape[0], 3), self.layout.body_pose(groups), groups["jaw"], left,
                            right, groups["face"], to_translation(groups["transl"])).joints

    def data_residuals(self, x, global_orient, keypoints, betas=None) -> torch.Tensor:
        """(B, 137, 2) reprojection error in millimetres at the body."""
        _, projected = self.points(x, global_orient, betas)
        return (projected - keypoints[..., :2]) / self.pixels_per_mm

    def data_weights(self, keypoints: torch.Tensor, weights: PriorWeights) -> torch.Tensor:
        """(B, 137) keypoint weight × detection confidence (leg points below MIN_LEG_CONFIDENCE count 0)."""
        confidence = keypoints[..., 2].clone()
        legs = confidence[..., list(LOWER_BODY)]
        confidence[..., list(LOWER_BODY)] = torch.where(legs >= MIN_LEG_CONFIDENCE, legs, torch.zeros_like(legs))
        return keypoint_weights(weights.hand_keypoints, weights.face_keypoints).to(keypoints.device) * confidence

    def body_prior_centre(self, keypoints: torch.Tensor | None, frames: int) -> torch.Tensor:
        """(B, 63) the rotation body prior's centre: the speaker's rest pose, thighs flexed as their seen length
        says and the knees bent as much (shins plumb)."""
        centre = self.body_mean.expand(frames, -1)
        if keypoints is None:
            return centre
        thighs = thigh_flexion(keypoints, self.thigh_px)
        flexion = torch.zeros_like(centre)
        flexion[:, list(HIP_FLEXION)] = -thighs
        flexion[:, list(KNEE_FLEXION)] = thighs
        return centre + flexion

    def prior_residuals(self, x: torch.Tensor, weights: PriorWeights, betas=None,
                        global_orient=None, keypoints: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """(B, n) residual vector of each prior; its squared norm is the prior's value.

        The clip-level priors (shape, upright) are added when betas are given: on the
        reference frames, where betas and the global orientation are optimised. `keypoints`
        (B, 137, 3), when given, set each frame's thigh flexion centre (body_prior_centre).
        """
        groups = self.layout.split(x)
        body_pose = self.layout.body_pose(groups)
        # VPoser's code is a standard normal around its own mean pose; rotations get the speaker's rest pose.
        if self.layout.vposer is not None:
            body_prior = groups["body_pose"]
        else:
            centre = self.body_prior_centre(keypoints, x.shape[0])
            body_prior = (groups["body_pose"] - centre) * self.body_scale
        abduction = torch.relu(hip_abduction(body_pose) - float(np.sin(ABDUCTION_FREE)))
        terms = {
            "body": weights.body * body_prior,
            "bending": weights.bending * losses.bending(body_pose),
            "abduction": weights.body * ABDUCTION_STIFFNESS * abduction,
            "hands": weights.hand * torch.cat([groups["left_hand"], groups["right_hand"]], dim=1),
            "face": weights.face * groups["face"],
            "jaw": weights.jaw * groups["jaw"] * self.jaw_axis,
        }
        if betas is not None:
            terms["shape"] = weights.shape * betas.reshape(-1, betas.shape[-1]).expand(x.shape[0], -1)
            if weights.upright and global_orient is not None:
                terms["upright"] = weights.upright * losses.tilt(global_orient.expand(x.shape[0], 3))
        return terms

    def per_frame(self, x, keypoints, global_orient, weights: PriorWeights, betas=None) -> dict[str, torch.Tensor]:
        """(B,) value of each term for frames x (B, D) against keypoints (B, 137, 3)."""
        residual = self.data_residuals(x, global_orient, keypoints, betas)
        squared = (residual**2).sum(dim=-1)
        terms = {"data": (self.data_weights(keypoints, weights) * losses.gmof(squared, self.rho)).sum(dim=-1)}
        for name, value in self.prior_residuals(x, weights, betas, global_orient, keypoints).items():
            terms[name] = losses.squared_norm(value)
        return terms

    def cost(self, x, keypoints, global_orient, weights: PriorWeights, betas=None) -> torch.Tensor:
        """(B,) the per-frame objective (without the motion loss)."""
        return sum(self.per_frame(x, keypoints, global_orient, weights, betas).values())

    def gauss_newton_residuals(self, x, keypoints, global_orient, weights: PriorWeights, betas=None,
                               robust_weights: torch.Tensor | None = None) -> torch.Tensor:
        """(B, R) residuals whose squared sum models `cost` (IRLS: robust weights held fixed).

        `robust_weights` (B, 137) are the GMoF slopes at the linearisation point (1 when None).
        """
        residual = self.data_residuals(x, global_orient, keypoints, betas)
        scale = self.data_weights(keypoints, weights)
        if robust_weights is not None:
            scale = scale * robust_weights
        data = (residual * scale.clamp(min=0).sqrt()[..., None]).reshape(x.shape[0], -1)
        return torch.cat([data, *self.prior_residuals(x, weights, betas, global_orient, keypoints).values()], dim=1)

    def robust_weights(self, x, keypoints, global_orient, betas=None) -> torch.Tensor:
        """(B, 137) GMoF slopes at x, for a Gauss-Newton step."""
        with torch.no_grad():
            squared = (self.data_residuals(x, global_orient, keypoints, betas) ** 2).sum(dim=-1)
        return losses.gmof_slope(squared, self.rho)

    def motion(self, x: torch.Tensor, previous: torch.Tensor, weight: float, translation_weight: float) -> torch.Tensor:
        """(B,) DR²'s motion loss between each frame and the one before it."""
        now, before = self.layout.split(x), self.layout.split(previous)
        pose = sum(losses.squared_norm(now[g] - before[g]) for g in MOTION_GROUPS)
        return weight * pose + translation_weight * losses.squared_norm(now["transl"] - before["transl"])


def reprojection_error_px(projected: torch.Tensor, keypoints: torch.Tensor, min_confidence: float = 0.3,
                          points=slice(None)) -> torch.Tensor:
    """(B,) mean pixel distance over the keypoints detected with at least `min_confidence` (NaN if none).

    `points` selects a part (e.g. BODY); points SMPL-X defines differently are left out.
    """
    used = torch.zeros(NUM_KEYPOINTS, dtype=torch.bool, device=keypoints.device)
    used[points] = True
    used &= keypoint_weights(1.0, 1.0).to(keypoints.device) > 0
    mask = (keypoints[..., 2] >= min_confidence) & used
    distance = (projected - keypoints[..., :2]).norm(dim=-1)
    count = mask.sum(dim=-1)
    total = (distance * mask).sum(dim=-1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))
