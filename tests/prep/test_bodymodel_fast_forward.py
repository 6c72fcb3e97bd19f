"""FastForward agrees with smplx's full forward pass on both body kinds, and the OpenPose table
maps each keypoint to the SMPL-X point of the same name and side."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from smplx.joint_names import JOINT_NAMES as SMPLX_OUTPUT_NAMES
from smplx.lbs import batch_rodrigues

from dr2prep.bodymodel.loading import load_body_model

from dr2prep.bodymodel.fast_forward import FastForward
from dr2prep.bodymodel import openpose_correspondence as op
from dr2prep.bodymodel.synthetic_smplx import write_synthetic_smplx
from tests.prep.bodymodel_models import random_pose, shared_cache, smplx_keypoints


@pytest.fixture(scope="module")
def bodies(tmp_path_factory):
    """The open body and a random model in SMPL-X's full format (300+100 directions, pose
    correctives, yaw-dependent contour, hand PCA)."""
    folder = tmp_path_factory.mktemp("smplx-format")
    model = write_synthetic_smplx(folder / "SMPLX_NEUTRAL.npz", seed=7, shape_space=400)
    cache = shared_cache(tmp_path_factory)
    return {"open": load_body_model("open", cache=cache), "smplx": load_body_model(model, cache=cache)}


@pytest.fixture(scope="module")
def layers(bodies):
    dtypes = (torch.float32, torch.float64)
    return {(kind, dtype): body.smplx_layer(dtype=dtype) for kind, body in bodies.items() for dtype in dtypes}


@pytest.mark.parametrize("kind", ["open", "smplx"])
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.float64, 1e-6)])
def test_fast_forward_matches_smplx_on_random_poses_and_betas(bodies, layers, kind, dtype, tolerance):
    """(smplx rounds model arrays to float32 even for float64 layers, hence 1e-6 there.)"""
    for seed in (0, 1):
        betas = torch.randn(10, generator=torch.Generator().manual_seed(50 + seed), dtype=dtype)
        pose = random_pose(24, seed, dtype=dtype)
        forward = FastForward(bodies[kind], betas.numpy(), dtype=dtype)
        points, joints = forward(**pose)
        with torch.no_grad():
            expected_points, expected_joints = smplx_keypoints(layers[(kind, dtype)], pose, betas)
        assert points.shape == (24, 137, 3) and joints.shape == (24, 55, 3)
        assert (points - expected_points).abs().max().item() < tolerance
        assert (joints - expected_joints).abs().max().item() < tolerance


def test_contour_follows_head_yaw_like_smplx(bodies, layers):
    """The SMPL-X-format model's contour changes with the neck's yaw: cover many look-up rows."""
    pose = random_pose(64, 3)
    pose["global_orient"] = torch.zeros(64, 3, dtype=torch.float64)
    pose["global_orient"][:, 1] = torch.linspace(-1.2, 1.2, 64, dtype=torch.float64)
    forward = FastForward(bodies["smplx"], dtype=torch.float64)
    assert not forward.static_contour and FastForward(bodies["open"]).static_contour
    full_pose = torch.zeros(64, 55, 3, dtype=torch.float64)
    full_pose[:, 0], full_pose[:, 1:22] = pose["global_orient"], pose["body_pose"].reshape(64, 21, 3)
    rows = forward._contour_bin(batch_rodrigues(full_pose[:, forward.level_order].reshape(-1, 3)).reshape(64, 55, 3, 3))
    assert len(rows.unique()) > 20
    points, _ = forward(**pose)
    expected, _ = smplx_keypoints(layers[("smplx", torch.float64)], pose, torch.zeros(10, dtype=torch.float64))
    assert (points - expected).abs().max().item() < 1e-6


def test_betas_given_per_call_match_fixed_betas(bodies):
    betas = torch.randn(10, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    pose = random_pose(5, 4)
    for body in bodies.values():
        fixed = FastForward(body, betas.numpy(), dtype=torch.float64)(**pose)
        per_call = FastForward(body, dtype=torch.float64)(**pose, betas=betas)
        torch.testing.assert_close(per_call.points, fixed.points)
        torch.testing.assert_close(per_call.joints, fixed.joints)


def test_hand_pca_coefficients_through_to_full_match_smplx_with_pca(bodies):
    body = bodies["smplx"]
    pose = random_pose(6, 8)
    generator = torch.Generator().manual_seed(2)
    left, right = (torch.randn(6, 12, generator=generator, dtype=torch.float64) for _ in range(2))
    layer = body.smplx_layer(use_hand_pca=True, dtype=torch.float64)
    zeros = torch.zeros(6, 3, dtype=torch.float64)
    expected = layer(
        global_orient=pose["global_orient"], body_pose=pose["body_pose"], jaw_pose=pose["jaw"], leye_pose=zeros,
        reye_pose=zeros, left_hand_pose=left, right_hand_pose=right, expression=pose["face"], transl=pose["transl"],
        betas=torch.zeros(6, 10, dtype=torch.float64),
    ).joints[:, op.OPENPOSE_FROM_SMPLX]
    pose.update(left_hand=body.hand_pca.to_full(left, "left"), right_hand=body.hand_pca.to_full(right, "right"))
    points = FastForward(body, dtype=torch.float64)(**pose).points
    assert (points - expected).abs().max().item() < 1e-6


def test_gradients_match_finite_differences(bodies):
    """Directional derivatives of a weighted sum of keypoints, all inputs and betas at once."""
    forward = FastForward(bodies["smplx"], dtype=torch.float64)
    generator = torch.Generator().manual_seed(13)
    inputs = {**random_pose(2, 11), "betas": torch.randn(10, generator=generator, dtype=torch.float64)}
    weights = torch.randn(2, 137, 3, generator=generator, dtype=torch.float64)

    def objective(values):
        betas = values["betas"]
        pose = {k: v for k, v in values.items() if k != "betas"}
        return (forward(**pose, betas=betas).points * weights).sum()

    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    gradients = torch.autograd.grad(objective(leaves), list(leaves.values()))
    assert all(torch.isfinite(g).all() for g in gradients)
    for _ in range(3):
        direction = {k: torch.randn(v.shape, generator=generator, dtype=torch.float64) for k, v in inputs.items()}
        step = 1e-6
        plus = objective({k: v + step * direction[k] for k, v in inputs.items()})
        minus = objective({k: v - step * direction[k] for k, v in inputs.items()})
        numeric = (plus - minus) / (2 * step)
        analytic = sum((g * direction[k]).sum() for g, k in zip(gradients, inputs))
        assert numeric.item() == pytest.approx(analytic.item(), rel=1e-5, abs=1e-6)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fast_forward_on_cuda_matches_cpu(bodies):
    pose = random_pose(16, 12, dtype=torch.float32)
    for body in bodies.values():
        cpu = FastForward(body)(**pose).points
        cuda = FastForward(body, device="cuda")(**{k: v.cuda() for k, v in pose.items()}).points
        assert (cuda.cpu() - cpu).abs().max().item() < 1e-5


def test_openpose_table_maps_each_keypoint_to_the_same_named_smplx_point():
    assert op.OPENPOSE_FROM_SMPLX.shape == (op.NUM_KEYPOINTS,) == (137,)
    names = op.keypoint_names()
    targets = [SMPLX_OUTPUT_NAMES[i] for i in op.OPENPOSE_FROM_SMPLX]
    for name, target in zip(names, targets):
        part, point = name.split(".")
        if part == "body" and point[0] in "LR" and point != "Neck":
            assert target.startswith("left" if point[0] == "L" else "right"), (name, target)
        if part in ("left_hand", "right_hand"):
            assert target.startswith(part.split("_")[0]), (name, target)
            finger = point.rstrip("1234").lower()
            assert finger in target or (finger == "wrist" and target.endswith("wrist")), (name, target)
    face = targets[op.FACE.start :]
    assert all(t.startswith("right_contour") for t in face[:8]) and face[8] == "contour_middle"
    assert all(t.startswith("left_contour") for t in face[9:17])
    assert face[17:22] == [f"right_eye_brow{i}" for i in range(1, 6)]
    assert face[68:] == ["right_eye", "left_eye"]  # pupils
    assert len(set(op.OPENPOSE_FROM_SMPLX[op.BODY])) == 25
    assert [n.split(".")[1] for n in names[op.BODY]][list(op.BODY_DEFINITION_DIFFERS)[0]] == "Neck"
    assert np.array_equal(op.FACE_EDGES[:16], [(i, i + 1) for i in range(16)])
