"""`dr2 export`: one result .npz -> the asked formats, written beside it or under --out."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from dr2common.errors import Dr2Error
from dr2common.progress import say

# format -> file suffix
FORMATS = {"bvh": ".bvh", "gltf": ".glb", "amass": "_amass.npz", "fbx": ".fbx"}


def output_paths(result: Path, formats: list[str], out: Path | None) -> dict[str, Path]:
    """Where each format goes: --out as a file (one format) or a folder, else beside the result."""
    stem = result.stem if result.name != "params.npz" else f"{result.parent.parent.name}_params"
    if out is not None and len(formats) == 1 and out.suffix:
        return {formats[0]: out}
    folder = out if out is not None else result.parent
    return {fmt: folder / f"{stem}{FORMATS[fmt]}" for fmt in formats}


def export_result(result: Path, formats: list[str], out: Path | None = None,
                  body_model: str | Path | None = None) -> dict[str, Path]:
    """Write `result` (a `dr2 synth` .npz or a clip's smplx/params.npz) in each of `formats`.

    `body_model` ("open", an SMPL-X .npz, or None for $DR2_SMPLX_MODEL / the open body) must be the
    one the result was made with: it gives the bone offsets, mesh and mean hand. Returns format -> path.
    """
    from dr2model.export.motion import load_motion
    from dr2prep.bodymodel.loading import load_body_model

    result = Path(result)
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown or not formats:
        raise Dr2Error(f"unknown export format {', '.join(unknown) or '(none)'}; use {', '.join(FORMATS)}")
    formats = list(dict.fromkeys(formats))
    paths = output_paths(result, formats, None if out is None else Path(out))
    body = load_body_model(body_model)
    motion = load_motion(result, body)
    if "fbx" in formats:
        from dr2model.export.fbx import blender_python

        blender_python()  # fail before writing anything
    for path in paths.values():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise Dr2Error(f"cannot create {path.parent} ({error.strerror or error}); give a writable --out") from None
    for fmt, path in paths.items():
        _write(fmt, motion, body, path)
        say(f"export: {fmt} -> {path}")
    return paths


def _write(fmt: str, motion, body, path: Path) -> None:
    """Write one format into a temporary folder beside `path` (same file name), then move it into place."""
    folder = Path(tempfile.mkdtemp(prefix=".dr2-export-", dir=path.parent))
    partial = folder / path.name
    try:
        if fmt == "bvh":
            from dr2model.export.bvh import write_bvh
            write_bvh(motion, partial)
        elif fmt == "gltf":
            from dr2model.export.gltf import write_glb
            write_glb(motion, body, partial)
        elif fmt == "amass":
            from dr2model.export.amass import write_amass
            write_amass(motion, partial)
        else:
            from dr2model.export.fbx import write_fbx
            write_fbx(motion, body, partial)
        partial.replace(path)
    except OSError as error:
        raise Dr2Error(f"cannot write {path} ({error.strerror or error}); give a writable --out") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
