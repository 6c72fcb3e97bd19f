"""The open body: an SMPL-X-format model file built from the Apache-2.0 mannequin-x package.

Built once into the cache dir and then loaded by the same `smplx` code as a licensed SMPL-X.
"""

from __future__ import annotations

import hashlib
from importlib import metadata, resources
from pathlib import Path

import numpy as np
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

from dr2common.atomic import savez_compressed_atomic
from dr2prep.bodymodel import face, skeleton
from dr2prep.bodymodel.cache import cache_dir

# Bump when the file's content changes; the cached file name carries it.
OPEN_BODY_VERSION = 1
MANNEQUIN_DIST = "mannequin-x"

# mannequin-x's 54 joints are SMPL-X's minus jaw and eyes, plus zero-length, never-rotated
# L_Hand/R_Hand joints between wrist and fingers. SMPL-X joint -> mannequin joint:
MANNEQUIN_JOINT_OF_SMPLX = tuple(range(22)) + (None, None, None) + tuple(range(24, 54))
# mannequin joint -> SMPL-X joint (L_Hand/R_Hand sit on the wrists and turn with them).
SMPLX_JOINT_OF_MANNEQUIN = tuple(range(22)) + (skeleton.LEFT_WRIST, skeleton.RIGHT_WRIST) + tuple(range(25, 55))

NUM_SHAPE = 10
SKIN_INFLUENCES = 4  # mannequin-x skins each vertex by its 4 strongest joints

# Which distal joint (mannequin names) carries each fingertip surface point.
FINGERTIP_JOINTS = {
    "lthumb": ("L_Thumb3", "L_Thumb2"), "lindex": ("L_Index3", "L_Index2"),
    "lmiddle": ("L_Middle3", "L_Middle2"), "lring": ("L_Ring3", "L_Ring2"),
    "lpinky": ("L_Pinky3", "L_Pinky2"),
    "rthumb": ("R_Thumb3", "R_Thumb2"), "rindex": ("R_Index3", "R_Index2"),
    "rmiddle": ("R_Middle3", "R_Middle2"), "rring": ("R_Ring3", "R_Ring2"),
    "rpinky": ("R_Pinky3", "R_Pinky2"),
}


def mannequin_version() -> str:
    return metadata.version(MANNEQUIN_DIST)


def open_body_fingerprint() -> str:
    """The open body is a function of dr2's builder and mannequin-x's version: hash those
    (the .npz's own bytes carry zip timestamps, so they differ between builds)."""
    return hashlib.sha256(f"dr2-open-body-v{OPEN_BODY_VERSION}/mannequin-x-{mannequin_version()}".encode()).hexdigest()


def open_body_file(cache: Path | None = None) -> Path:
    """Where the open body's .npz lives in the cache dir (it may not be built yet)."""
    return cache_dir(cache) / f"open_body-v{OPEN_BODY_VERSION}-mannequin-x-{mannequin_version()}.npz"


def open_body_path(cache: Path | None = None) -> Path:
    """Path of the open body's .npz in the cache dir, building it on first use (~3 s)."""
    path = open_body_file(cache)
    if not path.is_file():
        build_open_body(path)
    return path


def build_open_body(path: Path) -> None:
    """Write the open body's SMPL-X-format .npz to `path` (atomically)."""
    arrays = open_body_arrays()
    path.parent.mkdir(parents=True, exist_ok=True)
    savez_compressed_atomic(path, **arrays)


def _asset(name: str) -> dict[str, np.ndarray]:
    with resources.files("mannequin").joinpath("assets", name).open("rb") as stream:
        with np.load(stream, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}


def mannequin_skin(wooden: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(V, 4) joint indices and weights exactly as mannequin-x skins its wooden mesh.

    Keeps each vertex's 4 strongest influences, renormalised, and binds the rigid parts
    (pelvis, torso, chest shells) wholly to one joint (mannequin's Mannequin._bind_skin).
    """
    indices = wooden["skin_joint_indices"].astype(np.int64)
    weights = wooden["skin_weights"].astype(np.float32)
    influences = min(SKIN_INFLUENCES, weights.shape[1])
    strongest = np.argsort(weights, axis=1)[:, -influences:]
    indices = np.take_along_axis(indices, strongest, axis=1)
    weights = np.take_along_axis(weights, strongest, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    rigid_joint = wooden["skin_rigid_joint_indices"].astype(np.int64)
    rigid = rigid_joint >= 0
    indices[rigid] = rigid_joint[rigid, None]
    weights[rigid] = 0.0
    weights[rigid, 0] = 1.0
    return indices, weights


def _rest_mesh(model, shape: np.ndarray) -> np.ndarray:
    """(V, 3) mannequin-x's wooden mesh for these 10 betas with all joints unrotated (flat hands)."""
    model.reshape(np.asarray(shape, np.float32))
    return model.vertices(model.rest_pose(dtype=np.float64)).astype(np.float64)


def _mesh_shape_directions(model, base: np.ndarray) -> np.ndarray:
    """(V, 3, 10) linear shape directions of the mesh, by central differences at betas = +-1.

    mannequin-x reshapes its mesh non-linearly (bone-aligned similarity fits); SMPL-X's
    format needs linear directions. Only the mesh (drawing, toes, heels, fingertips) is
    approximate: sub-millimetre for most vertices at |beta| <= 1.5, up to ~1 cm at the
    forefoot for extreme betas. Joints are exact (see joint vertices below).
    """
    directions = np.zeros((*base.shape, NUM_SHAPE))
    for k in range(NUM_SHAPE):
        step = np.eye(NUM_SHAPE)[k]
        directions[..., k] = (_rest_mesh(model, step) - _rest_mesh(model, -step)) / 2.0
    return directions


def _ray_hit(vertices: np.ndarray, faces: np.ndarray, origin, direction) -> np.ndarray:
    """First point where the ray hits the triangles (Moller-Trumbore), or ValueError."""
    origin = np.asarray(origin, np.float64)
    direction = np.asarray(direction, np.float64)
    v0, v1, v2 = (vertices[faces[:, i]] for i in range(3))
    edge1, edge2 = v1 - v0, v2 - v0
    p = np.cross(direction, edge2)
    det = np.einsum("ij,ij->i", edge1, p)
    usable = np.abs(det) > 1e-14
    inv = 1.0 / np.where(usable, det, 1.0)
    s = origin - v0
    u = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, edge1)
    v = (q @ direction) * inv
    t = np.einsum("ij,ij->i", edge2, q) * inv
    hit = usable & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    if not hit.any():
        raise ValueError(f"ray from {origin} along {direction} misses the head")
    return origin + t[hit].min() * direction


def _head_points(mesh: np.ndarray, faces: np.ndarray, head_faces: np.ndarray, box_min: np.ndarray, box_max: np.ndarray):
    """Rest positions (beta = 0) of the face landmarks, nose/eye/ear points, jaw and eye joints."""
    head_vertices = np.unique(faces[head_faces])
    tris = faces[head_faces]
    y_eye = box_min[1] + face.EYE_LINE_FRACTION * (box_max[1] - box_min[1])
    z_mid = 0.5 * (box_min[2] + box_max[2])
    front = box_max[2] + 0.5

    def on_front(x_mm, y_mm, protrusion_mm):
        point = _ray_hit(mesh, tris, (x_mm / 1000.0, y_eye + y_mm / 1000.0, front), (0.0, 0.0, -1.0))
        point[2] += protrusion_mm / 1000.0
        return point

    def half_width(y):
        near = head_vertices[np.abs(mesh[head_vertices, 1] - y) < 0.003]
        near = near[mesh[near, 2] > z_mid]
        return np.abs(mesh[near, 0]).max()

    landmarks = []
    for fraction, y_mm, _ in face.CONTOUR:
        x_mm = 1000.0 * fraction * half_width(y_eye + y_mm / 1000.0)
        landmarks.append(on_front(x_mm, y_mm, 0.0))
    for x_mm, y_mm, protrusion_mm, _ in face.INNER_FACE:
        landmarks.append(on_front(x_mm, y_mm, protrusion_mm))
    landmarks = np.array(landmarks)

    ear_y = y_eye + face.EAR_HEIGHT_MM / 1000.0
    points = {
        "nose": landmarks[face.NOSE_TIP],
        "reye": landmarks[face.PUPILS[0]],
        "leye": landmarks[face.PUPILS[1]],
        "rear": _ray_hit(mesh, tris, (-1.0, ear_y, z_mid), (1.0, 0.0, 0.0)),
        "lear": _ray_hit(mesh, tris, (1.0, ear_y, z_mid), (-1.0, 0.0, 0.0)),
    }
    eyeball = np.array([0.0, 0.0, face.EYEBALL_RADIUS_MM / 1000.0])
    jaw_x, jaw_y = face.JAW_JOINT_MM
    joints = {
        skeleton.JAW: np.array([jaw_x / 1000.0, y_eye + jaw_y / 1000.0, z_mid + face.JAW_JOINT_DEPTH_MM / 1000.0]),
        skeleton.LEFT_EYE: landmarks[face.PUPILS[1]] - eyeball,
        skeleton.RIGHT_EYE: landmarks[face.PUPILS[0]] - eyeball,
    }
    return landmarks, points, joints


def _box_directions(points: np.ndarray, box_min, box_max, min_dirs, max_dirs) -> np.ndarray:
    """(N, 3, 10) shape directions that keep points at fixed relative places in the head box.

    mannequin-x fits its head to a box whose corners are linear in the betas; points
    defined relative to that box therefore stay linear in the betas too.
    """
    relative = (points - box_min) / (box_max - box_min)
    return min_dirs[None] + relative[:, :, None] * (max_dirs - min_dirs)[None]


def _foot_points(mesh: np.ndarray, skin_idx: np.ndarray, skin_w: np.ndarray, names: list[str]) -> dict[str, int]:
    """Mesh vertices for OpenPose's big toe, small toe and heel of each foot."""
    chosen = {}
    for side, prefix in (("L", "L"), ("R", "R")):
        foot_joints = [names.index(f"{side}_Ankle"), names.index(f"{side}_Toe")]
        weight = np.where(np.isin(skin_idx, foot_joints), skin_w, 0.0).sum(axis=1)
        foot = np.flatnonzero(weight > 0.5)
        pts = mesh[foot]
        sole = pts[:, 1].min()
        tip, back = pts[:, 2].max(), pts[:, 2].min()
        toes = pts[pts[:, 2] > tip - 0.03]
        medial_sign = -1.0 if side == "L" else 1.0  # towards x = 0
        x_medial = np.quantile(toes[:, 0] * medial_sign, 0.85) * medial_sign
        x_lateral = np.quantile(toes[:, 0] * medial_sign, 0.1) * medial_sign
        heel_x = pts[pts[:, 2] < back + 0.02, 0].mean()
        targets = {
            f"{prefix}BigToe": (x_medial, sole + 0.012, tip),
            f"{prefix}SmallToe": (x_lateral, sole + 0.010, tip - 0.025),
            f"{prefix}Heel": (heel_x, sole + 0.015, back),
        }
        for name, target in targets.items():
            chosen[name] = int(foot[np.argmin(np.linalg.norm(pts - np.asarray(target), axis=1))])
    return chosen


def _fingertips(mesh, joints_rest, skin_idx, skin_w, names) -> dict[str, int]:
    """Mesh vertices furthest along each distal finger bone: OpenPose's fingertips."""
    chosen = {}
    for name, (distal, middle) in FINGERTIP_JOINTS.items():
        d, m = names.index(distal), names.index(middle)
        owned = np.flatnonzero(np.where(skin_idx == d, skin_w, 0.0).sum(axis=1) > 0.5)
        axis = joints_rest[d] - joints_rest[m]
        axis /= np.linalg.norm(axis)
        chosen[name] = int(owned[np.argmax((mesh[owned] - joints_rest[d]) @ axis)])
    return chosen


def open_body_arrays() -> dict[str, np.ndarray]:
    """All arrays of the open body's SMPL-X-format file (see build_open_body)."""
    calibration = _asset("smplx_calibration.npz")
    wooden = _asset("wooden.npz")
    names = wooden["joint_names"].tolist()
    parents_m = wooden["parents"].tolist()
    for j, mj in enumerate(MANNEQUIN_JOINT_OF_SMPLX):
        if mj is not None and j > 0:
            assert SMPLX_JOINT_OF_MANNEQUIN[parents_m[mj]] == skeleton.PARENTS[j], names[mj]

    from mannequin import Mannequin

    model = Mannequin("wooden", flat_hand_mean=True)
    mesh = _rest_mesh(model, np.zeros(NUM_SHAPE))
    mesh_dirs = _mesh_shape_directions(model, mesh)
    mesh_faces = wooden["faces"].astype(np.int64)
    skin_idx, skin_w = mannequin_skin(wooden)
    n_mesh = mesh.shape[0]

    # Joints: one extra vertex per joint holding SMPL-X's rest joint and its 10 shape
    # directions from the calibration; J_regressor picks them, so joints are exact.
    joint_rest = np.zeros((skeleton.NUM_JOINTS, 3))
    joint_dirs = np.zeros((skeleton.NUM_JOINTS, 3, NUM_SHAPE))
    for j, mj in enumerate(MANNEQUIN_JOINT_OF_SMPLX):
        if mj is not None:
            joint_rest[j] = calibration["joint_rest"][mj]
            joint_dirs[j] = calibration["joint_dirs"][mj]

    box_min, box_max = (calibration[f"head_{end}_rest"].astype(np.float64) for end in ("min", "max"))
    min_dirs, max_dirs = (calibration[f"head_{end}_dirs"].astype(np.float64) for end in ("min", "max"))
    head = names.index("Head")
    head_influence = np.where(skin_idx == head, skin_w, 0.0).sum(axis=1)
    head_faces = np.flatnonzero((head_influence[mesh_faces] > 0.5).all(axis=1))
    landmarks, head_points, head_joints = _head_points(mesh, mesh_faces, head_faces, box_min, box_max)
    for j, position in head_joints.items():
        joint_rest[j] = position
        joint_dirs[j] = _box_directions(position[None], box_min, box_max, min_dirs, max_dirs)[0]

    # Markers: vertices outside the mesh's faces, rigidly on the head or blended with the jaw.
    marker_names = ["nose", "reye", "leye", "rear", "lear"] + [f"face{i}" for i in range(68)]
    marker_rest = np.concatenate([np.array([head_points[n] for n in marker_names[:5]]), landmarks[:68]])
    marker_dirs = _box_directions(marker_rest, box_min, box_max, min_dirs, max_dirs)
    jaw_weight = np.concatenate([np.zeros(5), face.landmark_jaw_weights()[:68]])

    n_markers = len(marker_names)
    n_vertices = n_mesh + skeleton.NUM_JOINTS + n_markers
    first_joint, first_marker = n_mesh, n_mesh + skeleton.NUM_JOINTS
    v_template = np.concatenate([mesh, joint_rest, marker_rest])
    shapedirs = np.zeros((n_vertices, 3, 2 * NUM_SHAPE))
    shapedirs[:, :, :NUM_SHAPE] = np.concatenate([mesh_dirs, joint_dirs, marker_dirs])
    shapedirs[first_marker + 5 :, :, NUM_SHAPE:] = face.face_code_basis()[:68]

    weights = np.zeros((n_vertices, skeleton.NUM_JOINTS))
    smplx_of_m = np.array(SMPLX_JOINT_OF_MANNEQUIN)
    np.add.at(weights, (np.arange(n_mesh)[:, None], smplx_of_m[skin_idx]), skin_w)
    weights[first_joint + np.arange(skeleton.NUM_JOINTS), np.arange(skeleton.NUM_JOINTS)] = 1.0
    weights[first_marker + np.arange(n_markers), skeleton.HEAD] = 1.0 - jaw_weight
    weights[first_marker + np.arange(n_markers), skeleton.JAW] += jaw_weight

    j_regressor = np.zeros((skeleton.NUM_JOINTS, n_vertices))
    j_regressor[np.arange(skeleton.NUM_JOINTS), first_joint + np.arange(skeleton.NUM_JOINTS)] = 1.0

    # Face landmarks are read by smplx through faces + barycentric weights: give each
    # landmark a degenerate face (m, m, m) after the mesh's faces, with weights (1, 0, 0).
    landmark_vertex = first_marker + 5 + np.arange(68)
    faces = np.concatenate([mesh_faces, np.repeat(landmark_vertex[:, None], 3, axis=1)])
    landmark_face = len(mesh_faces) + np.arange(68)
    bary = np.array([1.0, 0.0, 0.0])

    # smplx reads OpenPose's nose/eyes/ears/toes/heels/fingertips at fixed SMPL-X vertex ids:
    # reorder the vertices so that the chosen points sit at those ids.
    point_vertex = {n: first_marker + i for i, n in enumerate(marker_names[:5])}
    point_vertex |= _foot_points(mesh, skin_idx, skin_w, names)
    point_vertex |= _fingertips(mesh, calibration["joint_rest"].astype(np.float64), skin_idx, skin_w, names)
    order = np.arange(n_vertices)  # order[new] = old
    where = np.arange(n_vertices)  # where[old] = new
    for name in skeleton.VERTEX_POINT_NAMES:
        old, target = point_vertex[name], SMPLX_VERTEX_IDS["smplx"][name]
        here, displaced = where[old], order[target]
        order[target], order[here] = old, displaced
        where[old], where[displaced] = target, here

    hand_mean = calibration["hand_mean"].astype(np.float64)
    kintree = np.stack([np.array(skeleton.PARENTS), np.arange(skeleton.NUM_JOINTS)]).astype(np.int64)
    return {
        "v_template": v_template[order].astype(np.float32),
        "shapedirs": shapedirs[order].astype(np.float32),
        "posedirs": np.zeros((n_vertices, 3, skeleton.NUM_POSE_BASIS), np.float32),  # rigid wood: no pose correctives
        "J_regressor": j_regressor[:, order].astype(np.float32),
        "weights": weights[order].astype(np.float32),
        "kintree_table": kintree,
        "f": where[faces],
        "lmk_faces_idx": landmark_face[17:68],
        "lmk_bary_coords": np.tile(bary, (51, 1)),
        # The egg's outline barely changes with head yaw: the contour is the same in every bin.
        "dynamic_lmk_faces_idx": np.tile(landmark_face[:17], (skeleton.NUM_CONTOUR_BINS, 1)),
        "dynamic_lmk_bary_coords": np.tile(bary, (skeleton.NUM_CONTOUR_BINS, 17, 1)),
        "hands_componentsl": np.eye(45),
        "hands_componentsr": np.eye(45),
        "hands_meanl": hand_mean[:15].reshape(-1),
        "hands_meanr": hand_mean[15:].reshape(-1),
        "dr2_open_body": np.int64(OPEN_BODY_VERSION),
        "dr2_num_mesh_faces": np.int64(len(mesh_faces)),
        "dr2_mannequin_version": np.str_(mannequin_version()),
    }
