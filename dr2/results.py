"""What to do with results in Python: `export` (BVH, glTF, AMASS, FBX), `view` (an HTML page), and `demo`, `info`."""

from __future__ import annotations

from pathlib import Path


def export(result: str | Path, formats, out: str | Path | None = None, smplx_model: str | None = None) -> dict:
    """`dr2 export`: a saved sample (`Model.save`, `dr2 synth`) or a clip's smplx/params.npz in each format.

    `formats` is one or several of "bvh", "gltf", "amass", "fbx"; `out` a file
    (one format) or a folder, default beside `result`. Returns format -> path.
    """
    from dr2model.export import export_result

    formats = [formats] if isinstance(formats, str) else list(formats)
    return export_result(Path(result), formats, None if out is None else Path(out), body_model=smplx_model)


def view(results, audio: str | Path | None = None, out: str | Path | None = None,
         smplx_model: str | None = None) -> Path:
    """`dr2 view`: one offline HTML page animating saved samples of one speech in 3D, with the speech."""
    from dr2model.viewer import write_view

    results = [Path(r) for r in ([results] if isinstance(results, (str, Path)) else results)]
    return write_view(results, None if audio is None else Path(audio), None if out is None else Path(out),
                      body_model=smplx_model)


def demo(workspace: str | Path = "dr2-work", device: str = "auto") -> Path:
    """`dr2 demo`: the whole chain on an input it generates itself; returns the preview video."""
    from dr2.defaults import resolve_device
    from dr2model.demo import run_demo

    return run_demo(Path(workspace), device=resolve_device(device))


def info() -> dict:
    """`dr2 info`: versions, ffmpeg, CUDA devices and available stages (`dr2model.info.format_info` prints it)."""
    from dr2model.info import collect_info

    return collect_info()
