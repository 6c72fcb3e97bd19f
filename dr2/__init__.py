"""dr2 in Python: the whole job of the `dr2` command line, with its defaults, as plain functions.

    import dr2
    clip = dr2.prepare("talk.mp4", workspace="dr2-work")
    dr2.train([clip], "dr2-model", max_steps=2000)
    model = dr2.load_model("dr2-model")          # loaded once, reused by every call below
    samples = model.synthesize("speech.wav", num_samples=3, seed=0)
    samples[0].params["body_pose"]               # (T, 63) SMPL-X parameters, in memory
    paths = model.save(samples, "out", stem="speech")
    dr2.export(paths[0], ["gltf"])

Importing `dr2` is light: the names below are loaded on first use (PEP 562),
so torch, OpenCV and MediaPipe come in only with the call that needs them.
Defaults are the CLI's: device "auto" (CUDA when present), audio features
"deepspeech" when a DeepSpeech graph is given or named by
$DR2_DEEPSPEECH_GRAPH, else "builtin", and the open body (or $DR2_SMPLX_MODEL).
"""

from __future__ import annotations

import importlib

# public name -> the dr2 module that defines it
_EXPORTS = {
    "prepare": "dr2.preparation",
    "prepare_many": "dr2.preparation",
    "fit_smplx": "dr2.preparation",
    "summary_table": "dr2.preparation",
    "fit_settings": "dr2.preparation",
    "train": "dr2.training",
    "load_model": "dr2.model",
    "Model": "dr2.model",
    "Sample": "dr2.model",
    "synthesize": "dr2.model",
    "evaluate": "dr2.evaluation",
    "format_report": "dr2.evaluation",
    "export": "dr2.results",
    "view": "dr2.results",
    "demo": "dr2.results",
    "info": "dr2.results",
    "resolve_device": "dr2.defaults",
    "audio_feature_settings": "dr2.defaults",
    "Dr2Error": "dr2common.errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("dr2")
        except PackageNotFoundError:  # run from a checkout that is not installed
            from dr2prep import __version__

            return __version__
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module 'dr2' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
