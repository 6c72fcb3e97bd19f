"""BVH: the SMPL-X skeleton (body, jaw, eyes, both hands) with the body model's bone offsets for the result's betas.

Units are metres, the world is y-up (see motion.WORLD_FROM_CAMERA). The root carries its position
(absolute, its OFFSET is zero) and every joint three Euler angles in degrees, channel order
Zrotation Xrotation Yrotation: the joint's rotation is Rz @ Rx @ Ry, as BVH readers compose it.
`read_bvh` parses a file back (the round-trip test uses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from dr2model.export.motion import Motion

EULER_ORDER = "ZXY"  # intrinsic: scipy's upper-case order, BVH's channel order
ROTATION_CHANNELS = tuple(f"{axis}rotation" for axis in EULER_ORDER)
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
END_SITE_FRACTION = 0.5  # a leaf's end site continues its bone by half its length


@dataclass(frozen=True)
class Bvh:
    """A parsed BVH: joints in file order, their parents, offsets and channels, and the motion table."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3)
    channels: list[tuple[str, ...]]
    frame_time: float
    values: np.ndarray  # (T, total channels)

    def rotations(self) -> np.ndarray:
        """(T, J, 3, 3) each joint's local rotation, composed in its channel order."""
        frames, out, column = len(self.values), [], 0
        for joint_channels in self.channels:
            rotation = np.tile(np.eye(3), (frames, 1, 1))
            for name in joint_channels:
                if name.endswith("rotation"):
                    step = Rotation.from_euler(name[0].lower(), self.values[:, column, None], degrees=True).as_matrix()
                    rotation = rotation @ step
                column += 1
            out.append(rotation)
        return np.stack(out, axis=1)

    def root_positions(self) -> np.ndarray:
        """(T, 3) the root's position channels."""
        return self.values[:, [self.channels[0].index(axis) for axis in POSITION_CHANNELS]]


def _fmt(values) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def write_bvh(motion: Motion, path: Path) -> Path:
    """Write `motion` as BVH at `path`; returns the path."""
    parents = motion.parents
    children = {j: [c for c, p in enumerate(parents) if p == j] for j in range(len(parents))}
    offsets = motion.rest_joints - motion.rest_joints[np.maximum(np.array(parents), 0)]
    offsets[0] = 0.0
    order: list[int] = []
    lines = ["HIERARCHY"]

    def joint(j: int, depth: int) -> None:
        pad = "  " * depth
        order.append(j)
        lines.append(f"{pad}{'ROOT' if parents[j] < 0 else 'JOINT'} {motion.joint_names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {_fmt(offsets[j])}")
        channels = (POSITION_CHANNELS if parents[j] < 0 else ()) + ROTATION_CHANNELS
        lines.append(f"{pad}  CHANNELS {len(channels)} {' '.join(channels)}")
        for child in children[j]:
            joint(child, depth + 1)
        if not children[j]:
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET {_fmt(END_SITE_FRACTION * offsets[j])}")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    joint(0, 0)
    euler = Rotation.from_rotvec(motion.local_rotvecs.reshape(-1, 3)).as_euler(EULER_ORDER, degrees=True)
    euler = euler.reshape(motion.frames, -1, 3)[:, order].reshape(motion.frames, -1)
    table = np.concatenate([motion.root_position, euler], axis=1)
    lines += ["MOTION", f"Frames: {motion.frames}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    lines += [_fmt(row) for row in table]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def read_bvh(path: Path) -> Bvh:
    """Parse a BVH file (hierarchy and motion); End Sites are skipped."""
    tokens = Path(path).read_text().split()
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    i = tokens.index("HIERARCHY") + 1
    in_end_site = False
    while tokens[i] != "MOTION":
        token = tokens[i]
        if token in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            i += 2
        elif token == "End":
            in_end_site = True
            i += 2
        elif token == "{":
            if not in_end_site:
                stack.append(len(names) - 1)
            i += 1
        elif token == "}":
            if in_end_site:
                in_end_site = False
            else:
                stack.pop()
            i += 1
        elif token == "OFFSET":
            if not in_end_site:
                offsets.append([float(v) for v in tokens[i + 1 : i + 4]])
            i += 4
        elif token == "CHANNELS":
            count = int(tokens[i + 1])
            channels.append(tuple(tokens[i + 2 : i + 2 + count]))
            i += 2 + count
        else:
            raise ValueError(f"unexpected BVH token {token!r}")
    frames = int(tokens[tokens.index("Frames:") + 1])
    frame_time = float(tokens[tokens.index("Time:") + 1])
    start = tokens.index("Time:") + 2
    values = np.array(tokens[start:], dtype=np.float64).reshape(frames, -1)
    return Bvh(names, parents, np.array(offsets), channels, frame_time, values)
