"""The viewer page: results (samples of one speech) as skinned bodies, the speech, and three.js, in one HTML file.

Everything is inlined (base64 arrays, a WAV, three.js as data: modules), so the file works offline
from disk. Bodies are skinned in the browser from the same rest mesh, skin and per-joint
rotations as the .glb export; the page's clock is the audio's currentTime.
"""

from __future__ import annotations

import base64
import io
import json
from importlib import resources
from pathlib import Path

import numpy as np

from dr2common.atomic import write_text_atomic
from dr2common.errors import Dr2Error
from dr2common.progress import say
from dr2common.rates import SAMPLE_RATE

VENDOR_FILES = ("three.module.min.js", "OrbitControls.js")
PAGE_SAMPLE_RATE = SAMPLE_RATE  # the speech is stored as 16-bit mono WAV at the extractors' rate


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _asset(name: str) -> str:
    return resources.files("dr2model.viewer").joinpath(name).read_text(encoding="utf-8")


def speech_wav(path: Path) -> bytes:
    """The speech as 16 kHz 16-bit mono WAV bytes (what every browser plays)."""
    from scipy.io import wavfile

    from dr2prep.audio.reading import load_audio

    samples = load_audio(path)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    stream = io.BytesIO()
    wavfile.write(stream, PAGE_SAMPLE_RATE, pcm)
    return stream.getvalue()


def default_audio(result: Path) -> Path | None:
    """The speech a synth result was made from, as its sidecar .json records it (if that file still exists)."""
    sidecar = Path(result).with_suffix(".json")
    try:
        audio = json.loads(sidecar.read_text()).get("audio") if sidecar.is_file() else None
    except ValueError:
        return None
    return Path(audio) if audio and Path(audio).is_file() else None


def page_data(results: list[Path], body) -> dict:
    """The page's JSON: shared mesh topology and skin, and per sample its rest mesh, rotations and root path."""
    from dr2model.export.gltf import body_mesh, continuous_quaternions
    from dr2model.export.motion import load_motion

    motions = [load_motion(path, body) for path in results]
    fps = {m.fps for m in motions}
    if len(fps) > 1:
        raise Dr2Error(f"the results have different frame rates ({', '.join(map(str, sorted(fps)))}); "
                       f"view samples of one synthesis together")
    frames = max(m.frames for m in motions)
    samples, mesh = [], None
    for path, motion in zip(results, motions):
        mesh = body_mesh(body, motion.betas)
        last = np.arange(frames).clip(max=motion.frames - 1)  # a shorter sample holds its last pose
        quats = np.stack([continuous_quaternions(motion.local_rotvecs[:, j]) for j in range(len(motion.parents))],
                         axis=1)[last]
        samples.append({
            "label": path.stem,
            "positions": _b64(mesh["positions"].astype(np.float32)),
            "normals": _b64(mesh["normals"].astype(np.float32)),
            "restJoints": _b64(motion.rest_joints.astype(np.float32)),
            "quats": _b64(quats.astype(np.float32)),
            "root": _b64(motion.root_position[last].astype(np.float32)),
            "centre": [float(v) for v in motion.root_position.mean(axis=0)],
        })
    return {
        "fps": float(fps.pop()),
        "frames": int(frames),
        "parents": list(motions[0].parents),
        "jointNames": list(motions[0].joint_names),
        "faces": _b64(mesh["faces"].astype(np.uint32)),
        "skinIndex": _b64(mesh["joints"].astype(np.uint16)),
        "skinWeight": _b64(mesh["weights"].astype(np.float32)),
        "samples": samples,
    }


def render_page(data: dict, wav: bytes | None, title: str) -> str:
    """The HTML text of the page."""
    audio = ""
    if wav is not None:
        audio = f'<audio id="speech" preload="auto" src="data:audio/wav;base64,{base64.b64encode(wav).decode()}"></audio>'
    three, orbit = (base64.b64encode(_asset(f"vendor/{name}").encode()).decode() for name in VENDOR_FILES)
    # "</" never appears in the JSON (base64, numbers, names), so it cannot close its <script> early
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = _asset("page.html")
    for key, value in (("__TITLE__", title.replace("<", "&lt;")), ("__AUDIO__", audio), ("__THREE__", three),
                       ("__ORBIT__", orbit), ("__DATA__", text)):
        page = page.replace(key, value, 1)
    return page


def write_view(results: list[Path], audio: Path | None = None, out: Path | None = None,
               body_model: str | Path | None = None) -> Path:
    """`dr2 view`: write the page for `results` (with `audio`, else the speech their synth .json names).

    Returns the page's path (default: `<first result's stem>_view.html` beside it).
    """
    from dr2prep.bodymodel.loading import load_body_model

    results = [Path(path) for path in results]
    if not results:
        raise Dr2Error("no result given; pass one or more `dr2 synth` .npz files")
    out = Path(out) if out is not None else results[0].with_name(f"{results[0].stem}_view.html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise Dr2Error(f"--out {out} is not an .html file; give a path ending in .html")
    audio = Path(audio) if audio is not None else default_audio(results[0])
    body = load_body_model(body_model)
    data = page_data(results, body)
    wav = speech_wav(audio) if audio is not None else None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, render_page(data, wav, f"dr2 · {results[0].stem}"))
    except OSError as error:
        raise Dr2Error(f"cannot write {out} ({error.strerror or error}); give a writable --out") from None
    say(f"view: {len(results)} sample{'s' if len(results) > 1 else ''}"
        f"{' with ' + audio.name if audio is not None else ' (no speech)'} -> {out}")
    return out
