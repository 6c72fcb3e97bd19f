"""The open body: an SMPL-X-format file from mannequin-x that plain smplx loads, whose joints
are mannequin-x's own, with OpenPose surface points and a face code where they should be."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import smplx
import torch
from mannequin import Mannequin
from scipy.spatial import cKDTree

from dr2prep.bodymodel.loading import load_body_model

from dr2prep.bodymodel.fast_forward import FastForward
from dr2prep.bodymodel import openpose_correspondence as op
from dr2prep.bodymodel import skeleton
from dr2prep.bodymodel.face import FACE_CODE_NAMES
from dr2prep.bodymodel.hand_limits import hand_limit_excess
from dr2prep.bodymodel.open_body import MANNEQUIN_JOINT_OF_SMPLX, open_body_path
from dr2prep.bodymodel.preview import render_preview
from tests.prep.bodymodel_models import random_pose, shared_cache

MANNEQUIN_JOINTS = [(j, m) for j, m in enumerate(MANNEQUIN_JOINT_OF_SMPLX) if m is not None]


@pytest.fixture(scope="module")
def open_body(tmp_path_factory):
    return load_body_model("open", cache=shared_cache(tmp_path_factory))


@pytest.fixture(scope="module")
def open_layer(open_body):
    return open_body.smplx_layer(dtype=torch.float64)


@pytest.fixture(scope="module")
def rest_points(open_body):
    """(137, 3) keypoints of the open body in its rest pose (mean hands, zero face)."""
    pose = {k: torch.zeros_like(v) for k, v in random_pose(1, 0).items()}
    return FastForward(open_body, dtype=torch.float64)(**pose).points[0].numpy()


def test_plain_smplx_loads_the_open_body_file(open_body):
    with np.load(open_body.model_file, allow_pickle=False) as data:
        assert all(not data[key].dtype.hasobject for key in data.files)
        assert data["v_template"].shape[0] > 10475 and data["shapedirs"].shape[2] == 20
    layer = smplx.SMPLX(str(open_body.model_file), use_face_contour=True)
    output = layer()
    assert output.joints.shape == (1, 144, 3)
    assert torch.isfinite(output.vertices).all()
    assert open_body.kind == "open" and open_body.hand_pca is None
    assert len(open_body.fingerprint) == 64
    assert load_body_model("open", cache=open_body.model_file.parent).fingerprint == open_body.fingerprint


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joints_equal_mannequin_forward_kinematics(open_layer, seed):
    """SMPL-X's global_orient is mannequin-x's pelvis_rotation (it rotates about the pelvis)."""
    batch = 8
    pose = random_pose(batch, seed)
    betas = torch.randn(10, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64) * 1.5
    zeros = torch.zeros(batch, 3, dtype=torch.float64)
    joints = open_layer(
        betas=betas.expand(batch, -1), global_orient=pose["global_orient"], body_pose=pose["body_pose"],
        jaw_pose=pose["jaw"], leye_pose=zeros, reye_pose=zeros, left_hand_pose=pose["left_hand"],
        right_hand_pose=pose["right_hand"], expression=pose["face"], transl=pose["transl"],
    ).joints.numpy()

    mannequin = Mannequin("wooden", shape=betas.numpy().astype(np.float32))
    hands = torch.cat([pose["left_hand"], pose["right_hand"]], dim=1).numpy().reshape(batch, 30, 3)
    transforms = mannequin.forward_skeleton(
        body_pose=pose["body_pose"].numpy().reshape(batch, 21, 3), head_pose=np.zeros((batch, 3, 3)),
        hand_pose=hands, pelvis_rotation=pose["global_orient"].numpy(), shape=betas.numpy(),
        global_translation=pose["transl"].numpy(),
    )
    ours = joints[:, [j for j, _ in MANNEQUIN_JOINTS]]
    theirs = transforms[:, [m for _, m in MANNEQUIN_JOINTS]][..., :3, 3]
    assert np.abs(ours - theirs).max() < 1e-5


def test_mesh_equals_mannequin_mesh_at_mean_shape(open_body, open_layer):
    batch = 3
    pose = random_pose(batch, 5)
    output = open_layer(
        global_orient=pose["global_orient"], body_pose=pose["body_pose"], left_hand_pose=pose["left_hand"],
        right_hand_pose=pose["right_hand"], transl=pose["transl"], betas=torch.zeros(batch, 10, dtype=torch.float64),
        jaw_pose=pose["jaw"], expression=torch.zeros(batch, 10, dtype=torch.float64),
        leye_pose=torch.zeros(batch, 3, dtype=torch.float64), reye_pose=torch.zeros(batch, 3, dtype=torch.float64),
    )
    mannequin = Mannequin("wooden")
    parameters = mannequin.rest_pose(batch_dims=(batch,), dtype=np.float64)
    parameters.update(
        body_pose=pose["body_pose"].numpy().reshape(batch, 21, 3),
        hand_pose=torch.cat([pose["left_hand"], pose["right_hand"]], dim=1).numpy().reshape(batch, 30, 3),
        pelvis_rotation=pose["global_orient"].numpy(), global_translation=pose["transl"].numpy(),
    )
    theirs = mannequin.vertices(parameters)
    # The open body reorders vertices; its drawing faces are mannequin-x's faces renumbered.
    new_index = np.zeros(theirs.shape[1], np.int64)
    new_index[mannequin.faces.ravel()] = open_body.arrays().render_faces.ravel()
    assert np.abs(output.vertices.numpy()[:, new_index] - theirs).max() < 1e-5


def test_openpose_surface_points_sit_where_openpose_puts_them(rest_points):
    p = {name: rest_points[i] for i, name in enumerate(op.BODY_25_NAMES)}
    assert p["LEye"][0] > 0 > p["REye"][0]  # OpenPose's left is the person's left (+x)
    assert p["Nose"][2] > p["LEye"][2] and p["LEye"][1] > p["Nose"][1]
    assert abs(p["LEar"][0]) > abs(p["LEye"][0]) + 0.03 and p["LEar"][2] < p["LEye"][2] - 0.05
    for side in "LR":
        big, small, heel = p[f"{side}BigToe"], p[f"{side}SmallToe"], p[f"{side}Heel"]
        assert abs(big[0]) < abs(small[0])  # the big toe is on the inside
        assert big[2] > small[2] > heel[2] + 0.15 and abs(big[1] - heel[1]) < 0.03
    face = rest_points[op.FACE]
    np.testing.assert_allclose(face[op.FACE_PUPILS[0]], p["REye"])
    np.testing.assert_allclose(face[30], p["Nose"])
    # The face is mirror-symmetric: landmark 0..16 mirror 16..0 through x = 0.
    np.testing.assert_allclose(face[:17, 0], -face[16::-1, 0], atol=1e-6)
    assert face[8, 1] < face[57, 1] < face[51, 1] < face[33, 1] < face[30, 1] < face[27, 1] < face[19, 1]
    for hand in (op.LEFT_HAND, op.RIGHT_HAND):
        points = rest_points[hand]
        for tip in (4, 8, 12, 16, 20):  # fingertips lie beyond the last joint, along the last bone
            bone = (points[tip - 1] - points[tip - 2]) / np.linalg.norm(points[tip - 1] - points[tip - 2])
            assert 0.01 < (points[tip] - points[tip - 1]) @ bone < 0.04


def test_face_landmarks_stay_on_the_head_for_other_body_shapes(open_body):
    """Landmarks ride on the head box mannequin-x fits its head to: their distance to the
    head surface barely changes with the betas."""
    arrays = open_body.arrays()
    mesh = np.unique(arrays.render_faces)
    head = mesh[arrays.weights[mesh, skeleton.HEAD] > 0.5]
    landmark_faces = np.concatenate([arrays.lmk_faces_idx, arrays.dynamic_lmk_faces_idx[0]])
    landmarks = np.unique(arrays.faces[landmark_faces])

    def distance_to_head(betas):
        shaped = arrays.v_template + arrays.shape_dirs @ betas
        return cKDTree(shaped[head]).query(shaped[landmarks])[0]

    rest = distance_to_head(np.zeros(10))
    generator = np.random.default_rng(4)
    for betas in (2 * np.eye(10)[0], -2 * np.eye(10)[1], 1.5 * generator.normal(size=10)):
        assert np.abs(distance_to_head(betas) - rest).max() < 0.004


def test_face_code_and_jaw_move_the_landmarks_they_name(open_body):
    forward = FastForward(open_body, dtype=torch.float64)
    zero = {k: torch.zeros_like(v) for k, v in random_pose(1, 0).items()}

    def face_with(**changes):
        pose = dict(zero)
        for name, value in changes.items():
            if name == "jaw":
                pose["jaw"] = torch.tensor([value], dtype=torch.float64)
            else:
                code = torch.zeros(1, 10, dtype=torch.float64)
                code[0, FACE_CODE_NAMES.index(name)] = value
                pose["face"] = code
        return forward(**pose).points[0, op.FACE].numpy()

    rest = face_with()
    wide = face_with(mouth_width=1.0)
    assert (wide[54, 0] - wide[48, 0]) - (rest[54, 0] - rest[48, 0]) == pytest.approx(0.012)
    assert face_with(brows_up=1.0)[17:27, 1].mean() - rest[17:27, 1].mean() > 0.005
    closed = face_with(eyes_close=2.0)
    assert closed[37, 1] - closed[41, 1] < 0.3 * (rest[37, 1] - rest[41, 1])
    opened = face_with(jaw=[0.3, 0.0, 0.0])  # SMPL-X opens the mouth about +x
    assert opened[8, 1] < rest[8, 1] - 0.01 and opened[57, 1] < rest[57, 1] - 0.01
    np.testing.assert_allclose(opened[27:48], rest[27:48])  # nose, eyes stay
    np.testing.assert_allclose(opened[51], rest[51])


def test_face_code_is_recovered_from_2d_face_keypoints(open_body):
    """An orthographic-view fit of face code + jaw to the 70 face points finds the truth."""
    forward = FastForward(open_body, dtype=torch.float64)
    zero = {k: torch.zeros_like(v) for k, v in random_pose(1, 0).items()}
    true_code = torch.tensor([[0.8, -0.5, 1.2, 0.6, 1.0, -0.7, 0.4, 1.1, -0.6, 0.9]], dtype=torch.float64)
    true_jaw = torch.tensor([[0.2, 0.03, 0.0]], dtype=torch.float64)
    target = forward(**{**zero, "face": true_code, "jaw": true_jaw}).points[0, op.FACE, :2]

    code = torch.zeros(1, 10, dtype=torch.float64, requires_grad=True)
    jaw = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([code, jaw], max_iter=60, line_search_fn="strong_wolfe", tolerance_grad=1e-10)

    def loss():
        optimiser.zero_grad()
        value = (forward(**{**zero, "face": code, "jaw": jaw}).points[0, op.FACE, :2] - target).square().sum() * 1e6
        value.backward()
        return value

    optimiser.step(loss)
    assert torch.allclose(code, true_code, atol=1e-3)
    assert torch.allclose(jaw[:, 0], true_jaw[:, 0], atol=1e-3)


def test_hand_mean_is_mannequins_and_inside_the_hand_limits(open_body):
    with resources.files("mannequin").joinpath("assets", "smplx_calibration.npz").open("rb") as stream:
        hand_mean = np.load(stream, allow_pickle=False)["hand_mean"]
    np.testing.assert_allclose(open_body.hand_mean_left, hand_mean[:15].ravel())
    np.testing.assert_allclose(open_body.hand_mean_right, hand_mean[15:].ravel())
    zeros = torch.zeros(1, 45, dtype=torch.float64)
    assert hand_limit_excess(zeros, open_body.hand_mean_left, "left").item() == 0.0
    assert hand_limit_excess(zeros, open_body.hand_mean_right, "right").item() == 0.0
    bent_back = zeros.clone()
    bent_back[0, 2] = 1.5  # left index knuckle bent 1.5 rad backwards (+z is extension on the left)
    assert hand_limit_excess(bent_back, open_body.hand_mean_left, "left").item() > 0.3


def test_open_body_is_built_once_in_the_cache_dir_from_the_environment(tmp_path_factory, monkeypatch):
    cache = shared_cache(tmp_path_factory)
    monkeypatch.setenv("DR2_CACHE_DIR", str(cache))
    path = open_body_path()
    assert path.parent == cache and path.is_file()
    built = path.stat().st_mtime_ns
    assert open_body_path() == path and path.stat().st_mtime_ns == built
    assert load_body_model("open").model_file == path


def test_preview_draws_rest_and_gesture_with_keypoints(open_body, tmp_path):
    import cv2

    png = render_preview(open_body, tmp_path / "preview.png")
    image = cv2.imread(str(png))
    assert image.shape == (760, 2 * 640 + 2 * 520, 3)
    body_red = np.all(image == (40, 40, 220), axis=2).sum()
    face_yellow = np.all(image == (20, 200, 230), axis=2).sum()
    assert body_red > 500 and face_yellow > 500
    assert (image < 200).any(axis=2).mean() > 0.2  # the mesh is drawn
