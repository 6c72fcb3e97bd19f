"""One interface over the two body sources: the user's SMPL-X .npz or the open body.

`load_body_model("open" | path)` checks the file without unpickling anything and returns a
BodyModel; `.smplx_layer()` gives the `smplx.SMPLX` module, FastForward the fitting pass.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from dr2common.atomic import savez_atomic
from dr2common.errors import Dr2Error
from dr2common.safe_npz import check_pickle_free, npz_members, read_npz
from dr2common.smplx_params import NUM_BETAS, NUM_EXPRESSION
from dr2prep.bodymodel import skeleton
from dr2prep.bodymodel.cache import cache_dir
from dr2prep.bodymodel.open_body import mannequin_version, open_body_file, open_body_fingerprint, open_body_path
from dr2prep.stage import sha256_file

MODEL_ENV = "DR2_SMPLX_MODEL"
OPEN = "open"
SMPLX_FILE_NAME = "SMPLX_NEUTRAL.npz"
NUM_HAND_PCA = 12  # MANO PCA components per hand, as in the DR2 authors' release
FULL_SHAPE_SPACE = 300  # smplx: a file with >= 400 directions has 300 shape + 100 expression
MAX_VERTEX_ID = 9929  # largest SMPL-X vertex id smplx reads OpenPose points from

BodyKind = Literal["smplx", "open"]

# key -> expected shape (None: any size; "V", "F": shared sizes checked across keys)
_REQUIRED = {
    "v_template": ("V", 3),
    "shapedirs": ("V", 3, None),
    "posedirs": ("V", 3, skeleton.NUM_POSE_BASIS),
    "J_regressor": (skeleton.NUM_JOINTS, "V"),
    "weights": ("V", skeleton.NUM_JOINTS),
    "kintree_table": (2, skeleton.NUM_JOINTS),
    "f": ("F", 3),
    "lmk_faces_idx": (skeleton.NUM_STATIC_LANDMARKS,),
    "lmk_bary_coords": (skeleton.NUM_STATIC_LANDMARKS, 3),
    "dynamic_lmk_faces_idx": (skeleton.NUM_CONTOUR_BINS, skeleton.NUM_CONTOUR_LANDMARKS),
    "dynamic_lmk_bary_coords": (skeleton.NUM_CONTOUR_BINS, skeleton.NUM_CONTOUR_LANDMARKS, 3),
    "hands_componentsl": (None, 45),
    "hands_componentsr": (None, 45),
    "hands_meanl": (45,),
    "hands_meanr": (45,),
}


@dataclass(frozen=True)
class HandPCA:
    """MANO hand PCA of a licensed SMPL-X: full 45-dim hand pose = coefficients @ components.

    Both sides are relative to the model's mean hand (smplx's flat_hand_mean=False).
    """

    left: np.ndarray  # (12, 45)
    right: np.ndarray  # (12, 45)

    def to_full(self, coefficients: torch.Tensor, side: Literal["left", "right"]) -> torch.Tensor:
        """(B, 12) PCA coefficients -> (B, 45) axis-angle hand pose (differentiable)."""
        components = self.left if side == "left" else self.right
        return coefficients @ torch.as_tensor(components, dtype=coefficients.dtype, device=coefficients.device)

    def to_coefficients(self, hand_pose: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
        """(..., 45) hand pose -> (..., 12) least-squares PCA coefficients (a projection)."""
        components = self.left if side == "left" else self.right
        return np.asarray(hand_pose) @ np.linalg.pinv(components)


@dataclass(frozen=True)
class ModelArrays:
    """The model file's arrays, as numpy (see smplx's SMPLX for their meaning)."""

    v_template: np.ndarray  # (V, 3)
    shape_dirs: np.ndarray  # (V, 3, 10)
    expression_dirs: np.ndarray  # (V, 3, 10)
    posedirs: np.ndarray  # (V, 3, 486)
    j_regressor: np.ndarray  # (55, V)
    weights: np.ndarray  # (V, 55)
    faces: np.ndarray  # (F, 3), including the open body's landmark-only faces
    render_faces: np.ndarray  # (F', 3) faces to draw
    lmk_faces_idx: np.ndarray  # (51,)
    lmk_bary_coords: np.ndarray  # (51, 3)
    dynamic_lmk_faces_idx: np.ndarray  # (79, 17)
    dynamic_lmk_bary_coords: np.ndarray  # (79, 17, 3)


@dataclass(frozen=True, eq=False)
class BodyModel:
    """A body model dr2 can fit and pose: a licensed SMPL-X ("smplx") or the open body ("open").

    Both speak SMPL-X parameters: betas (10), global_orient (3), body_pose (63), jaw (3),
    left/right hand (45 each, axis-angle relative to `hand_mean_*`), face (10; SMPL-X's
    expression), transl (3). Eye rotations stay zero.
    """

    kind: BodyKind
    model_file: Path  # the .npz smplx loads: the open body, or a plain-array copy of the user's file
    source: str  # what was asked for: "open" or the user's path
    fingerprint: str  # identifies the model for stage caches (sha256 of the user's file; open: its build)
    hand_pca: HandPCA | None  # None for the open body (full 45-dim hands with limits)
    hand_mean_left: np.ndarray  # (45,)
    hand_mean_right: np.ndarray  # (45,)
    num_betas: int = NUM_BETAS
    num_expression: int = NUM_EXPRESSION

    joint_names = skeleton.JOINT_NAMES
    parents = skeleton.PARENTS

    def arrays(self) -> ModelArrays:
        """The model's arrays (read once per file and kept)."""
        return _read_arrays(str(self.model_file))

    def smplx_layer(
        self,
        batch_size: int = 1,
        *,
        use_hand_pca: bool = False,
        face_contour: bool = True,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ):
        """An `smplx.SMPLX` for this model, parameterised as dr2 stores poses.

        Hands are full 45-dim rotations relative to the mean hand unless `use_hand_pca`
        (licensed SMPL-X only: 12 MANO PCA coefficients per hand). `face_contour` adds the
        17 contour landmarks, so joints has the 144 entries OPENPOSE_FROM_SMPLX indexes.
        """
        import smplx

        check_pickle_free(self.model_file)  # smplx loads with allow_pickle=True: hand it plain arrays only
        if use_hand_pca and self.hand_pca is None:
            raise ValueError("the open body has no hand PCA; use full hand rotations")
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for 10+10 models
            layer = smplx.SMPLX(
                str(self.model_file),
                num_betas=self.num_betas,
                num_expression_coeffs=self.num_expression,
                use_pca=use_hand_pca,
                num_pca_comps=NUM_HAND_PCA,
                flat_hand_mean=False,
                use_face_contour=face_contour,
                batch_size=batch_size,
                dtype=dtype,
            )
        return layer.to(device)

    def describe(self) -> str:
        """One line for `dr2 info` and logs."""
        if self.kind == OPEN:
            return f"open body (mannequin-x, SMPL-X-compatible) at {self.model_file}"
        return f"SMPL-X from {self.source} (sha256 {self.fingerprint[:12]})"


def default_source() -> str:
    """$DR2_SMPLX_MODEL if set, else the open body."""
    return os.environ.get(MODEL_ENV) or OPEN


def describe_default_model(cache: Path | None = None) -> str:
    """One line for `dr2 info` on the model used when --smplx-model is not given (builds nothing)."""
    source = default_source()
    if source == OPEN:
        path = open_body_file(cache)
        where = f"cached at {path}" if path.is_file() else f"built on first use into {path.parent}"
        return f"open body (mannequin-x {mannequin_version()}), {where}; set ${MODEL_ENV} to use SMPL-X"
    state = "" if Path(source).expanduser().exists() else " (missing!)"
    return f"SMPL-X from ${MODEL_ENV} = {source}{state}"


def load_body_model(source: str | Path | None = None, *, cache: Path | None = None) -> BodyModel:
    """The body model for `source`: "open", a path to an SMPL-X .npz (or a folder holding
    SMPLX_NEUTRAL.npz), or None for $DR2_SMPLX_MODEL / the open body.

    Raises Dr2Error with what to do when the file cannot serve as SMPL-X.
    """
    source = str(source) if source is not None else default_source()
    if source == OPEN:
        model_file = open_body_path(cache)
        kind: BodyKind = "open"
        fingerprint = open_body_fingerprint()
    else:
        user_file = _resolve_user_path(Path(source).expanduser())
        fingerprint = sha256_file(user_file)
        model_file = _checked_model_file(user_file, fingerprint, cache)
        kind = "open" if _has_key(model_file, "dr2_open_body") else "smplx"
    arrays = _read_raw(model_file, ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr"))
    hand_pca = None
    if kind == "smplx":
        hand_pca = HandPCA(
            left=arrays["hands_componentsl"][:NUM_HAND_PCA].astype(np.float64),
            right=arrays["hands_componentsr"][:NUM_HAND_PCA].astype(np.float64),
        )
    return BodyModel(
        kind=kind,
        model_file=model_file,
        source=source,
        fingerprint=fingerprint,
        hand_pca=hand_pca,
        hand_mean_left=arrays["hands_meanl"].astype(np.float64),
        hand_mean_right=arrays["hands_meanr"].astype(np.float64),
    )


def _resolve_user_path(path: Path) -> Path:
    if path.is_dir():
        for candidate in (path / SMPLX_FILE_NAME, path / "smplx" / SMPLX_FILE_NAME):
            if candidate.is_file():
                return candidate
        raise Dr2Error(f"no {SMPLX_FILE_NAME} in {path}; pass the SMPL-X .npz itself to --smplx-model, or 'open'")
    if path.suffix.lower() == ".pkl":
        raise Dr2Error(
            f"{path} is a .pkl model, which dr2 never loads (unpickling can run code); "
            f"download the .npz release of SMPL-X ({SMPLX_FILE_NAME}) and pass that to --smplx-model"
        )
    if not path.is_file():
        raise Dr2Error(f"SMPL-X model file {path} does not exist; pass the path of {SMPLX_FILE_NAME}, or 'open'")
    return path


def _not_smplx(path: Path, problem: str) -> Dr2Error:
    return Dr2Error(
        f"{path} is not an SMPL-X model file ({problem}); pass {SMPLX_FILE_NAME} from the SMPL-X download, or 'open'"
    )


def _member_dtypes(path: Path) -> dict[str, tuple[np.dtype, tuple]]:
    """dtype and shape of each member of an .npz, from the headers only (non-.npy members: object)."""
    if not zipfile.is_zipfile(path):
        raise _not_smplx(path, "not an .npz archive")
    try:
        return {name: (dtype, shape) for name, (shape, dtype) in npz_members(path).items()}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise _not_smplx(path, f"unreadable archive: {error}") from None


def _checked_model_file(path: Path, digest: str, cache: Path | None) -> Path:
    """Check the arrays smplx needs; return a copy holding only plain arrays for smplx to load.

    smplx opens model files with allow_pickle=True, so the user's file never
    reaches it: SMPL-X's release holds pickled dicts (joint2num, part2num) it
    never uses, and a hostile file could hold any pickle under any member name.
    The copy is written once per file (by sha256) from arrays read without
    unpickling, and checked again before each use (`smplx_layer`).
    """
    members = _member_dtypes(path)
    sizes: dict[str, int] = {}
    for key, expected in _REQUIRED.items():
        if key not in members:
            raise _not_smplx(path, f"no '{key}' array")
        dtype, shape = members[key]
        if dtype.hasobject or len(shape) != len(expected):
            raise _not_smplx(path, f"'{key}' has shape {shape}")
        for size, want in zip(shape, expected):
            if isinstance(want, str):
                want = sizes.setdefault(want, size)
            if want is not None and size != want:
                raise _not_smplx(path, f"'{key}' has shape {shape}")
    if sizes["V"] <= MAX_VERTEX_ID:
        raise _not_smplx(path, f"{sizes['V']} vertices, SMPL-X has 10475")
    if members["shapedirs"][1][2] < NUM_BETAS + NUM_EXPRESSION:
        raise _not_smplx(path, "fewer than 10 shape + 10 expression directions")
    if members["hands_componentsl"][1][0] < NUM_HAND_PCA:
        raise _not_smplx(path, "fewer than 12 hand PCA components")
    parents = _read_raw(path, ("kintree_table",))["kintree_table"][0].astype(np.int64)
    if not np.array_equal(parents[1:], skeleton.PARENTS[1:]):
        raise _not_smplx(path, "its kinematic tree is not SMPL-X's")

    copy = cache_dir(cache) / f"smplx-plain-{digest[:20]}.npz"
    if not copy.is_file():
        kept = _read_raw(path, None)  # every plain array; pickles and non-.npy members are never read
        savez_atomic(copy, **kept)
    return copy


def _has_key(path: Path, key: str) -> bool:
    return key in _member_dtypes(path)


def _read_raw(path: Path, keys: tuple[str, ...] | None) -> dict[str, np.ndarray]:
    arrays = read_npz(path, "SMPL-X model file", f"pass {SMPLX_FILE_NAME} from the SMPL-X download, or 'open'",
                      keys=keys)
    missing = [key for key in keys or () if key not in arrays]
    if missing:
        raise _not_smplx(path, f"no plain '{missing[0]}' array")
    return arrays


@functools.lru_cache(maxsize=2)
def _read_arrays(model_file: str) -> ModelArrays:
    path = Path(model_file)
    data = read_npz(path, "SMPL-X model file", "pass the SMPL-X .npz again, or 'open'",
                    keys=(*_REQUIRED, "dr2_num_mesh_faces"), required=tuple(_REQUIRED))
    raw = {key: data[key] for key in _REQUIRED}
    # the open body's landmark-only faces come after the faces to draw
    num_render_faces = int(data["dr2_num_mesh_faces"]) if "dr2_num_mesh_faces" in data else len(raw["f"])
    shapedirs = raw["shapedirs"]
    # smplx's split: 300 shape + 100 expression directions, or 10 + 10 for small files.
    expression_start = FULL_SHAPE_SPACE if shapedirs.shape[-1] >= FULL_SHAPE_SPACE + 100 else NUM_BETAS
    faces = raw["f"].astype(np.int64)
    return ModelArrays(
        v_template=raw["v_template"],
        shape_dirs=shapedirs[:, :, :NUM_BETAS],
        expression_dirs=shapedirs[:, :, expression_start : expression_start + NUM_EXPRESSION],
        posedirs=raw["posedirs"],
        j_regressor=raw["J_regressor"],
        weights=raw["weights"],
        faces=faces,
        render_faces=faces[:num_render_faces],
        lmk_faces_idx=raw["lmk_faces_idx"].astype(np.int64),
        lmk_bary_coords=raw["lmk_bary_coords"],
        dynamic_lmk_faces_idx=raw["dynamic_lmk_faces_idx"].astype(np.int64),
        dynamic_lmk_bary_coords=raw["dynamic_lmk_bary_coords"],
    )
