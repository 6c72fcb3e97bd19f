"""glTF 2.0 binary (.glb): the body mesh skinned to the SMPL-X skeleton, betas baked, animated per joint.

The mesh is the one the result was made with (the open body, or the user's SMPL-X), in its rest pose
for the result's betas (no expression, no pose correctives: glTF skinning is plain linear blend
skinning). Nodes are the 55 SMPL-X joints (rest offsets as translations); the animation has one
rotation channel per joint and the pelvis translation, LINEAR, one key per frame. y-up, metres.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from dr2model.export.motion import Motion, rest_geometry
from dr2model.normals import vertex_normals

MAX_INFLUENCES = 4  # glTF's JOINTS_0 / WEIGHTS_0 hold four per vertex
FLOAT, UNSIGNED_BYTE, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5121, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
BODY_COLOR = (0.78, 0.62, 0.45, 1.0)  # light wood, as the previews draw it
TYPE_OF_WIDTH = {1: "SCALAR", 3: "VEC3", 4: "VEC4", 16: "MAT4"}


def body_mesh(body, betas: np.ndarray) -> dict[str, np.ndarray]:
    """The drawable mesh for these betas: positions, normals, faces and 4 skin influences per vertex.

    Keeps only vertices the drawn faces use (the open body's joint and landmark helpers go).
    """
    arrays = body.arrays()
    vertices, _ = rest_geometry(body, betas)
    faces = arrays.render_faces
    used = np.unique(faces)
    remap = np.full(len(vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    positions = vertices[used]
    faces = remap[faces]
    weights = arrays.weights[used].astype(np.float64)
    strongest = np.argsort(-weights, axis=1)[:, :MAX_INFLUENCES]
    top = np.take_along_axis(weights, strongest, axis=1)
    top /= top.sum(axis=1, keepdims=True)
    joints = np.where(top > 0, strongest, 0)  # slots without weight point at joint 0, as validators expect
    return {"positions": positions, "normals": unit_vertex_normals(positions, faces), "faces": faces,
            "joints": joints, "weights": top}


def unit_vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) area-weighted vertex normals, +y where a vertex has no area (glTF wants every normal of unit length)."""
    normals = vertex_normals(positions, faces)
    return np.where(np.linalg.norm(normals, axis=1, keepdims=True) > 0.5, normals, np.array([0.0, 1.0, 0.0]))


def continuous_quaternions(rotvecs: np.ndarray) -> np.ndarray:
    """(T, 4) unit quaternions (x, y, z, w) of (T, 3) axis-angles, each in the previous one's hemisphere
    so that interpolation between keys takes the short way."""
    quats = Rotation.from_rotvec(rotvecs).as_quat()
    signs = np.ones(len(quats))
    dots = np.einsum("ij,ij->i", quats[1:], quats[:-1])
    signs[1:] = np.cumprod(np.where(dots < 0, -1.0, 1.0))
    return quats * signs[:, None]


class _Builder:
    """Accumulates buffer views and accessors of one binary buffer."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, data: np.ndarray, component: int, target: int | None = None, bounds: bool = False) -> int:
        data = np.ascontiguousarray(data)
        width = 1 if data.ndim == 1 else int(np.prod(data.shape[1:]))
        self.blob += b"\0" * (-len(self.blob) % 4)
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": data.nbytes}
        if target is not None:
            view["target"] = target
        self.blob += data.tobytes()
        self.views.append(view)
        accessor = {"bufferView": len(self.views) - 1, "componentType": component, "count": len(data),
                    "type": TYPE_OF_WIDTH[width]}
        if bounds:
            flat = data.reshape(len(data), width)
            accessor["min"] = [float(v) if component == FLOAT else int(v) for v in flat.min(axis=0)]
            accessor["max"] = [float(v) if component == FLOAT else int(v) for v in flat.max(axis=0)]
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def gltf_document(motion: Motion, body, name: str = "dr2_body") -> tuple[dict, bytes]:
    """The glTF JSON and its binary buffer for `motion` on `body`."""
    mesh = body_mesh(body, motion.betas)
    parents = motion.parents
    joint_count = len(parents)
    build = _Builder()

    position = build.add(mesh["positions"].astype(np.float32), FLOAT, ARRAY_BUFFER, bounds=True)
    normal = build.add(mesh["normals"].astype(np.float32), FLOAT, ARRAY_BUFFER)
    joints = build.add(mesh["joints"].astype(np.uint8 if joint_count < 256 else np.uint16),
                       UNSIGNED_BYTE if joint_count < 256 else UNSIGNED_SHORT, ARRAY_BUFFER)
    weights = mesh["weights"].astype(np.float32)
    weights[:, 0] = 1.0 - weights[:, 1:].sum(axis=1, dtype=np.float32)  # sum to one in float32 too
    weight = build.add(weights, FLOAT, ARRAY_BUFFER)
    faces = mesh["faces"].reshape(-1)
    small = faces.max() < 65535
    indices = build.add(faces.astype(np.uint16 if small else np.uint32), UNSIGNED_SHORT if small else UNSIGNED_INT,
                        ELEMENT_ARRAY_BUFFER, bounds=True)

    rest = motion.rest_joints
    inverse_bind = np.tile(np.eye(4), (joint_count, 1, 1))
    inverse_bind[:, :3, 3] = -rest
    # glTF matrices are column-major: store each transposed
    ibm = build.add(inverse_bind.transpose(0, 2, 1).reshape(joint_count, 16).astype(np.float32), FLOAT)

    times = build.add((np.arange(motion.frames) / motion.fps).astype(np.float32), FLOAT, bounds=True)
    samplers, channels = [], []
    for j in range(joint_count):
        quats = continuous_quaternions(motion.local_rotvecs[:, j]).astype(np.float32)
        samplers.append({"input": times, "output": build.add(quats, FLOAT), "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": j, "path": "rotation"}})
    samplers.append({"input": times, "output": build.add(motion.root_position.astype(np.float32), FLOAT),
                     "interpolation": "LINEAR"})
    channels.append({"sampler": len(samplers) - 1, "target": {"node": 0, "path": "translation"}})

    nodes = []
    for j in range(joint_count):
        offset = rest[j] - (rest[parents[j]] if parents[j] >= 0 else 0.0)
        node = {"name": motion.joint_names[j], "translation": [float(v) for v in offset]}
        children = [c for c, p in enumerate(parents) if p == j]
        if children:
            node["children"] = children
        nodes.append(node)
    mesh_node = len(nodes)
    nodes.append({"name": name, "mesh": 0, "skin": 0})

    document = {
        "asset": {"version": "2.0", "generator": "dr2 export"},
        "scene": 0,
        "scenes": [{"name": name, "nodes": [0, mesh_node]}],
        "nodes": nodes,
        "meshes": [{"name": name, "primitives": [{
            "attributes": {"POSITION": position, "NORMAL": normal, "JOINTS_0": joints, "WEIGHTS_0": weight},
            "indices": indices, "material": 0, "mode": 4}]}],
        "materials": [{"name": "body", "pbrMetallicRoughness": {
            "baseColorFactor": list(BODY_COLOR), "metallicFactor": 0.0, "roughnessFactor": 0.8}}],
        "skins": [{"name": "smplx", "joints": list(range(joint_count)), "inverseBindMatrices": ibm, "skeleton": 0}],
        "animations": [{"name": "dr2", "samplers": samplers, "channels": channels}],
        "accessors": build.accessors,
        "bufferViews": build.views,
        "buffers": [{"byteLength": len(build.blob)}],
    }
    return document, bytes(build.blob)


def glb_bytes(document: dict, blob: bytes) -> bytes:
    """Pack JSON and binary chunks into one .glb (both padded to 4 bytes)."""
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    blob = blob + b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(text), b"JSON") + text
            + struct.pack("<I4s", len(blob), b"BIN\0") + blob)


def write_glb(motion: Motion, body, path: Path) -> Path:
    """Write `motion` on `body` as a .glb at `path`; returns the path."""
    document, blob = gltf_document(motion, body, Path(path).stem)
    document["buffers"][0]["byteLength"] = len(blob) + (-len(blob) % 4)
    Path(path).write_bytes(glb_bytes(document, blob))
    return Path(path)
