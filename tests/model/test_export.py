"""dr2 export: the BVH, glTF and AMASS files say what smplx says about the result (no Blender needed here)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dr2model.export.amass import AMASS_FROM_CAMERA
from dr2model.export.bvh import read_bvh
from dr2model.export.motion import WORLD_FROM_CAMERA, load_motion
from dr2prep.bodymodel.loading import load_body_model
from dr2prep.bodymodel import skeleton
from tests.cli_runner import assert_one_line_error, run_dr2
from tests.model.export_fixtures import FPS, FRAMES, ROOT, require_validator, smplx_output, synth_result


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One synth-layout result exported to bvh, gltf and amass through the real CLI."""
    folder = tmp_path_factory.mktemp("export")
    result = synth_result(folder / "speech_seed0.npz")
    run = run_dr2("export", result, "--format", "bvh", "--format", "gltf", "--format", "amass", check=True)
    paths = run.stdout.split()
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["speech_seed0.bvh", "speech_seed0.glb", "speech_seed0_amass.npz"]
    with np.load(result) as data:
        params = {key: data[key] for key in data.files}
    joints, vertices = smplx_output(params)
    return {"result": result, "bvh": folder / "speech_seed0.bvh", "glb": folder / "speech_seed0.glb",
            "amass": folder / "speech_seed0_amass.npz", "params": params, "joints": joints, "vertices": vertices}


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) between rotation matrices (..., 3, 3)."""
    cos = (np.einsum("...ij,...ij->...", a, b) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def npz_local_rotations(params: dict) -> np.ndarray:
    """(T, 55, 3, 3) what the npz says each joint does, recomposed here independently of the exporter."""
    body = load_body_model("open")
    frames = len(params["global_orient"])
    hands = np.concatenate([params["left_hand_pose"] + body.hand_mean_left,
                            params["right_hand_pose"] + body.hand_mean_right], axis=1)
    rotvecs = np.concatenate([params["global_orient"], params["body_pose"], params["jaw_pose"], params["leye_pose"],
                              params["reye_pose"], hands], axis=1).reshape(frames, 55, 3)
    return Rotation.from_rotvec(rotvecs.reshape(-1, 3).astype(np.float64)).as_matrix().reshape(frames, 55, 3, 3)


def test_skeleton_motion_matches_smplx(exported):
    """Forward kinematics of the exported skeleton puts every joint where smplx does (turned y-up)."""
    motion = load_motion(exported["result"], load_body_model("open"))
    expected = exported["joints"] @ WORLD_FROM_CAMERA.T
    assert np.abs(motion.world_joints() - expected).max() < 1e-5


def test_bvh_round_trip(exported):
    bvh = read_bvh(exported["bvh"])
    assert sorted(bvh.names) == sorted(skeleton.JOINT_NAMES)
    order = [skeleton.JOINT_NAMES.index(name) for name in bvh.names]
    assert [skeleton.PARENTS[j] for j in order] == [order[p] if p >= 0 else -1 for p in bvh.parents]
    assert bvh.values.shape[0] == FRAMES and bvh.frame_time == pytest.approx(1.0 / FPS)
    expected = npz_local_rotations(exported["params"])[:, order]
    expected[:, 0] = WORLD_FROM_CAMERA @ expected[:, 0]  # the root also turns the camera frame y-up
    error = angle_between(bvh.rotations(), expected)
    assert error.max() <= 1e-4, error.max()
    # bone offsets: smplx's rest joints for the result's betas; the root path: smplx's pelvis
    body = load_body_model("open")
    at_rest = {key: np.zeros_like(value) for key, value in exported["params"].items() if key != "betas"}
    at_rest["left_hand_pose"] = at_rest["left_hand_pose"] - body.hand_mean_left.astype(np.float32)  # flat hands
    at_rest["right_hand_pose"] = at_rest["right_hand_pose"] - body.hand_mean_right.astype(np.float32)
    rest_joints, _ = smplx_output({"betas": exported["params"]["betas"], **at_rest})
    rest = rest_joints[0][order]
    parents = [order.index(skeleton.PARENTS[j]) if skeleton.PARENTS[j] >= 0 else -1 for j in order]
    for k in range(1, len(order)):
        assert np.abs(bvh.offsets[k] - (rest[k] - rest[parents[k]])).max() < 1e-5
    pelvis = exported["joints"][:, 0] @ WORLD_FROM_CAMERA.T
    assert np.abs(bvh.root_positions() - pelvis).max() < 1e-5


def accessor(gltf, index: int) -> np.ndarray:
    """An accessor's data as numpy, read through pygltflib's structures."""
    kinds = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}
    widths = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    blob = gltf.binary_blob()
    start = view.byteOffset + (acc.byteOffset or 0)
    count = acc.count * widths[acc.type]
    return np.frombuffer(blob, kinds[acc.componentType], count, start).reshape(acc.count, -1)


def test_glb_passes_the_khronos_validator(exported):
    node = require_validator()
    run = subprocess.run([node, str(ROOT / "tests/model/gltf_validate.mjs"), str(exported["glb"])],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    report = json.loads(run.stdout)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]
    assert report["info"]["animationCount"] == 1 and report["info"]["hasSkins"]


def test_glb_loads_and_skins_like_smplx(exported):
    """pygltflib reads the file; skinning its mesh with its own skin and animation at one frame gives smplx's body."""
    from pygltflib import GLTF2

    gltf = GLTF2().load(str(exported["glb"]))
    animation = gltf.animations[0]
    times = accessor(gltf, animation.samplers[0].input)[:, 0]
    assert len(times) == FRAMES
    assert times[-1] == pytest.approx((FRAMES - 1) / FPS)  # duration of 45 frames at 30 fps
    assert len(gltf.skins[0].joints) == 55 and len(animation.channels) == 56

    frame = 30
    nodes = gltf.nodes
    local = {}
    for channel in animation.channels:
        value = accessor(gltf, animation.samplers[channel.sampler].output)[frame].astype(np.float64)
        local.setdefault(channel.target.node, {})[channel.target.path] = value
    world = {}
    for j in range(55):  # nodes are in parent-before-child order
        matrix = np.eye(4)
        matrix[:3, :3] = Rotation.from_quat(local[j]["rotation"]).as_matrix()
        matrix[:3, 3] = local[j].get("translation", nodes[j].translation)
        parent = next((p for p in range(j) if nodes[p].children and j in nodes[p].children), None)
        world[j] = matrix if parent is None else world[parent] @ matrix
    primitive = gltf.meshes[0].primitives[0]
    positions = accessor(gltf, primitive.attributes.POSITION).astype(np.float64)
    joints = accessor(gltf, primitive.attributes.JOINTS_0).astype(np.int64)
    weights = accessor(gltf, primitive.attributes.WEIGHTS_0).astype(np.float64)
    inverse_bind = accessor(gltf, gltf.skins[0].inverseBindMatrices).reshape(55, 4, 4).transpose(0, 2, 1)
    skin = np.stack([world[j] @ inverse_bind[j] for j in range(55)])
    homogeneous = np.concatenate([positions, np.ones((len(positions), 1))], axis=1)
    per_joint = np.einsum("vkij,vj->vki", skin[joints], homogeneous)[..., :3]
    skinned = (weights[..., None] * per_joint).sum(axis=1)
    expected = exported["vertices"][frame] @ WORLD_FROM_CAMERA.T
    # the glb keeps the drawn vertices of the model, in their order
    body = load_body_model("open")
    drawn = np.unique(body.arrays().render_faces)
    assert len(drawn) == len(positions)
    assert np.abs(skinned - expected[drawn]).max() < 1e-4


def test_amass_layout_poses_smplx_the_same(exported):
    """The AMASS npz, posed by smplx with the mean hand folded in, is the same body turned z-up."""
    with np.load(exported["amass"], allow_pickle=False) as data:
        amass = {key: data[key] for key in data.files}
    assert amass["poses"].shape == (FRAMES, 165) and amass["trans"].shape == (FRAMES, 3)
    assert amass["betas"].shape == (10,) and str(amass["gender"]) == "neutral"
    assert float(amass["mocap_frame_rate"]) == FPS and str(amass["surface_model_type"]) == "smplx"
    body = load_body_model("open")
    poses = amass["poses"]
    params = {
        "betas": np.tile(amass["betas"], (FRAMES, 1)), "global_orient": poses[:, :3], "body_pose": poses[:, 3:66],
        "jaw_pose": poses[:, 66:69], "leye_pose": poses[:, 69:72], "reye_pose": poses[:, 72:75],
        # smplx (flat_hand_mean=False) adds the mean hand: take it out of AMASS's full hand rotations
        "left_hand_pose": poses[:, 75:120] - body.hand_mean_left, "right_hand_pose": poses[:, 120:] - body.hand_mean_right,
        "expression": exported["params"]["expression"], "transl": amass["trans"],
    }
    joints, _ = smplx_output(params)
    assert np.abs(joints - exported["joints"] @ AMASS_FROM_CAMERA.T).max() < 1e-4


def test_export_errors_are_one_line(tmp_path):
    assert_one_line_error(run_dr2("export", tmp_path / "missing.npz", "--format", "bvh"), "does not exist")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    assert_one_line_error(run_dr2("export", bad, "--format", "gltf"), "cannot read")
    other = tmp_path / "other.npz"
    np.savez(other, poses=np.zeros((3, 165)))
    assert_one_line_error(run_dr2("export", other, "--format", "bvh"), "not SMPL-X parameters")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = synth_result(tmp_path / "speech_seed0.npz", frames=5)
    assert_one_line_error(run_dr2("export", result, "--format", "bvh", "--out", blocker / "sub"), "writable --out")
    assert not list(tmp_path.glob("*.bvh")) and not list(tmp_path.glob("*.glb"))


def test_export_on_a_users_smplx_model(tmp_path):
    """With --smplx-model the .glb carries that model's mesh (smooth skin cut to 4 influences, pickled extras skipped)
    and the BVH's fingers that model's mean hand; the glb stays valid."""
    from dr2prep.bodymodel.synthetic_smplx import NUM_VERTICES, write_synthetic_smplx
    from pygltflib import GLTF2

    model = write_synthetic_smplx(tmp_path / "SMPLX_NEUTRAL.npz", seed=7, shape_space=400, pickled_extras=True)
    result = synth_result(tmp_path / "speech_seed0.npz", frames=10)
    run_dr2("export", result, "--format", "gltf", "--format", "bvh", "--smplx-model", model, check=True)
    body = load_body_model(str(model))
    gltf = GLTF2().load(str(tmp_path / "speech_seed0.glb"))
    drawn = len(np.unique(body.arrays().render_faces))  # every vertex its faces use (a real SMPL-X: all 10,475)
    assert drawn > NUM_VERTICES // 2
    assert gltf.accessors[gltf.meshes[0].primitives[0].attributes.POSITION].count == drawn
    node = require_validator()
    run = subprocess.run([node, str(ROOT / "tests/model/gltf_validate.mjs"), str(tmp_path / "speech_seed0.glb")],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(run.stdout)["issues"]["numErrors"] == 0
    assert body.kind == "smplx" and not np.allclose(body.hand_mean_left, load_body_model("open").hand_mean_left)
    bvh = read_bvh(tmp_path / "speech_seed0.bvh")
    finger = bvh.names.index("left_index1")
    with np.load(result) as data:
        expected = Rotation.from_rotvec((data["left_hand_pose"][:, :3] + body.hand_mean_left[:3]).astype(np.float64))
    error = (Rotation.from_matrix(bvh.rotations()[:, finger]).inv() * expected).magnitude()
    assert error.max() <= 1e-4
