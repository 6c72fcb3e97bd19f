"""`dr2 info`: what this install can do, for bug reports and for checking a setup.

It lives in dr2model, the top of the two packages, because it asks both (prep stages, preview renderers).
"""

from __future__ import annotations

import platform
from importlib import metadata

from dr2common.ffmpeg_tools import ffmpeg_exe, ffmpeg_version

PACKAGES = ("dr2", "torch", "numpy", "smplx", "mannequin-x", "mediapipe", "ffmpeg-python", "imageio-ffmpeg", "click")


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def cuda_devices() -> list[str]:
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def collect_info() -> dict:
    """Versions, ffmpeg, CUDA devices and the stages this install runs."""
    from dr2prep.audio.deepspeech_graph import resolve_graph_path
    from dr2prep.audio.extractor import FEATURE_KINDS
    from dr2prep.pipeline import STAGES

    from dr2prep.bodymodel.loading import describe_default_model
    from dr2prep.keypoints.stage import backend_versions
    from dr2model.preview import describe_renderers

    graph = resolve_graph_path(None)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "ffmpeg": {"path": ffmpeg_exe(), "version": ffmpeg_version()},
        "cuda_devices": cuda_devices(),
        "prep_stages": list(STAGES),
        "audio_features": list(FEATURE_KINDS),
        "deepspeech_graph": str(graph) if graph else None,
        "body_model": describe_default_model(),
        "keypoint_backends": {name: version or "not available" for name, version in backend_versions().items()},
        "preview_renderer": describe_renderers(),
    }


def format_info(info: dict) -> str:
    lines = [f"python        {info['python']} ({info['platform']})"]
    lines += [f"{name + ' ':<14}{version}" for name, version in info["packages"].items()]
    lines.append(f"ffmpeg        {info['ffmpeg']['path']}")
    lines.append(f"              {info['ffmpeg']['version']}")
    lines.append(f"cuda devices  {', '.join(info['cuda_devices']) or 'none (CPU only)'}")
    lines.append(f"prep stages   {', '.join(info['prep_stages'])}")
    lines.append(f"audio feats   {', '.join(info['audio_features'])}")
    lines.append(f"deepspeech    {info['deepspeech_graph'] or 'no graph set (built-in audio features)'}")
    lines.append(f"body model    {info['body_model']}")
    backends = ", ".join(f"{name} ({version})" for name, version in info["keypoint_backends"].items())
    lines.append(f"keypoints     {backends}")
    lines.append(f"preview       {info['preview_renderer']}")
    return "\n".join(lines)
