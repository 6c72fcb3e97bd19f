"""Preview videos of synthesised SMPL-X sequences: the body mesh drawn frame by frame, piped to ffmpeg with the speech.

Renderers: pyrender offscreen (EGL, or OSMesa) when it is installed and backed by a GPU; otherwise
the built-in OpenCV rasteriser (dr2model.render), which on a CPU is also the faster of the two.
Looks: `person` (default) dresses the body as the demo's speaker (dr2model.demo_figure: skin, hair,
a drawn face, a vest over white sleeves), so a gesture reads as a person's; `wooden` is the plain
mannequin.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from dr2model import demo_figure
from dr2model.choices import LOOKS  # the demo speaker's dressing, or the plain mannequin
from dr2model.demo_figure import Figure, dress, faces_the_camera, render_figure
from dr2model.normals import vertex_normals
from dr2model.render import BACKGROUND, MESH_COLOR, render_mesh
from dr2prep.bodymodel.skeleton import FIRST_STATIC_LANDMARK, NUM_STATIC_LANDMARKS
from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import write_video
from dr2common.progress import progress_bar
from dr2common.rates import FPS

PREVIEW_SIZE = (480, 480)  # width, height of one sample's picture
FRAME_BATCH = 32  # frames posed by smplx at once (memory stays flat for any length)
FILL = 0.85  # fraction of the picture the framed body part takes
FRAMING_FRAMES = 64  # frames, spread over the sequence, that decide the framing
LEG_JOINTS = (1, 2, 4, 5, 7, 8, 10, 11)  # SMPL-X hips, knees, ankles, feet: left out of the upper-body framing
FRAMINGS = ("upper", "full")
RENDERERS = ("auto", "builtin", "pyrender")
FACE_POINTS = slice(FIRST_STATIC_LANDMARK, FIRST_STATIC_LANDMARK + NUM_STATIC_LANDMARKS)  # in smplx's joints
SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software")  # GL_RENDERER names of CPU rasterisers
LABEL_COLOR = (90, 90, 90)
SRGB_GAMMA = 2.2  # the dressing's colours are sRGB; pyrender lights vertex colours as linear


@dataclass(frozen=True)
class PreviewCamera:
    """A pinhole at the fit's camera position, zoomed and shifted to frame the body.

    focal_length and center (the principal point) in pixels.
    """

    focal_length: float
    center: tuple[float, float]


# --- posing and framing ---------------------------------------------------------------------------------------

def posed_vertices(layer, params: dict[str, np.ndarray], start: int, stop: int) -> np.ndarray:
    """Vertices (B, V, 3) of frames start..stop-1 in camera space (metres, y down, z forward).

    smplx's layer only takes its own batch size (its landmark tensors are
    sized by it), so a short last batch is padded with its last frame.
    """
    count = stop - start
    rows = np.minimum(np.arange(start, start + layer.batch_size), stop - 1)
    inputs = {key: torch.as_tensor(np.asarray(value[rows], np.float32)) for key, value in params.items()}
    with torch.no_grad():
        return layer(**inputs).vertices[:count].numpy()


def posed_frames(layer, params: dict[str, np.ndarray], start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (B, V, 3) and the OpenPose face points 17..67 (B, 51, 3) of frames start..stop-1, camera space."""
    count = stop - start
    rows = np.minimum(np.arange(start, start + layer.batch_size), stop - 1)
    inputs = {key: torch.as_tensor(np.asarray(value[rows], np.float32)) for key, value in params.items()}
    with torch.no_grad():
        output = layer(**inputs)
    return output.vertices[:count].numpy(), output.joints[:count, FACE_POINTS].numpy()


def look_figure(body, look: str) -> Figure | None:
    """The dressing a look draws the body with (None: the plain mannequin)."""
    if look not in LOOKS:
        raise Dr2Error(f"unknown look {look!r}; use one of {', '.join(LOOKS)}")
    return dress(body) if look == "person" else None


def framed_vertices(body, framing: str = "upper") -> np.ndarray:
    """(V,) bool: the vertices the framing keeps in view (upper: everything not skinned mostly to the legs)."""
    if framing not in FRAMINGS:
        raise Dr2Error(f"unknown framing {framing!r}; use one of {', '.join(FRAMINGS)}")
    weights = body.arrays().weights
    if framing == "full":
        return np.ones(len(weights), bool)
    return weights[:, list(LEG_JOINTS)].sum(axis=1) < 0.5


def frame_camera(vertices: np.ndarray, size: tuple[int, int], fill: float = FILL) -> PreviewCamera:
    """The camera that fits the points `vertices` (..., 3) into `fill` of the picture, centred."""
    points = np.asarray(vertices, np.float64).reshape(-1, 3)
    depth = np.maximum(points[:, 2], 1e-3)
    x, y = points[:, 0] / depth, points[:, 1] / depth  # directions from the camera (image plane at z = 1)
    width, height = size
    span_x, span_y = max(np.ptp(x), 1e-6), max(np.ptp(y), 1e-6)
    focal = fill * min(width / span_x, height / span_y)
    mid_x, mid_y = (x.max() + x.min()) / 2, (y.max() + y.min()) / 2
    return PreviewCamera(float(focal), (width / 2 - focal * mid_x, height / 2 - focal * mid_y))


def choose_camera(layer, samples: list[dict], keep: np.ndarray, size, fill: float = FILL) -> PreviewCamera:
    """One camera for all samples, from FRAMING_FRAMES frames spread over each sequence."""
    points = []
    for params in samples:
        frames = len(params["body_pose"])
        chosen = np.unique(np.linspace(0, frames - 1, min(FRAMING_FRAMES, frames)).round().astype(int))
        subset = {key: value[chosen] for key, value in params.items()}
        for start in range(0, len(chosen), layer.batch_size):
            stop = min(start + layer.batch_size, len(chosen))
            points.append(posed_vertices(layer, subset, start, stop)[:, keep])
    return frame_camera(np.concatenate(points), size, fill)


# --- renderers ------------------------------------------------------------------------------------------------

class BuiltinRenderer:
    """dr2model.render's OpenCV painter: no OpenGL needed. With a `figure`, the dressed body and its face."""

    name = "builtin"

    def __init__(self, size: tuple[int, int], figure: Figure | None = None):
        self.size = size
        self.figure = figure

    def __call__(self, vertices: np.ndarray, faces: np.ndarray, camera: PreviewCamera,
                 face_points: np.ndarray | None = None) -> np.ndarray:
        if self.figure is None:
            return render_mesh(vertices, faces, self.size, camera.focal_length, center=camera.center)
        if face_points is None:  # dressed, without a face
            return render_mesh(vertices, self.figure.faces, self.size, camera.focal_length,
                               demo_figure.COLOURS[self.figure.material], demo_figure.BACKGROUND, camera.center)
        return render_figure(self.figure, vertices, face_points, self.size, camera.focal_length, camera.center)


class PyrenderRenderer:
    """pyrender's OffscreenRenderer (smooth shading, a headlight); EGL unless PYOPENGL_PLATFORM says otherwise."""

    name = "pyrender"

    def __init__(self, size: tuple[int, int], figure: Figure | None = None):
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # must be set before OpenGL is first imported
        import pyrender

        self.pyrender = pyrender
        self.size = size
        self.figure = figure
        self.renderer = pyrender.OffscreenRenderer(*size)
        wall = BACKGROUND if figure is None else demo_figure.BACKGROUND
        background = [c / 255 for c in wall[::-1]] + [1.0]
        self.scene = pyrender.Scene(bg_color=background, ambient_light=[0.35, 0.35, 0.35])
        self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=1.5), pose=np.eye(4))
        rgb = [c / 255 for c in MESH_COLOR[::-1]] if figure is None else [1.0, 1.0, 1.0]
        self.material = pyrender.MetallicRoughnessMaterial(baseColorFactor=rgb + [1.0], metallicFactor=0.0,
                                                           roughnessFactor=0.9)
        self.vertex_colours = None
        if figure is not None:  # the dressing's colours per vertex, RGBA, linear (GL lights them; they are sRGB)
            rgb = (demo_figure.COLOURS[figure.vertex_material][:, ::-1] / 255) ** SRGB_GAMMA
            self.vertex_colours = np.concatenate([rgb, np.ones((len(rgb), 1))], axis=1).astype(np.float32)
        self.mesh_node = self.camera_node = None

    def gl_renderer(self) -> str:
        from OpenGL import GL

        value = GL.glGetString(GL.GL_RENDERER)
        return value.decode(errors="replace") if isinstance(value, bytes) else str(value)

    def is_software(self) -> bool:
        name = self.gl_renderer().lower()
        return any(word in name for word in SOFTWARE_GL)

    def __call__(self, vertices: np.ndarray, faces: np.ndarray, camera: PreviewCamera,
                 face_points: np.ndarray | None = None) -> np.ndarray:
        pyrender = self.pyrender
        # OpenGL's camera has y up and looks down -z; ours has y down and looks down +z.
        gl_vertices = np.asarray(vertices, np.float32) * np.array([1, -1, -1], np.float32)
        colours = self.vertex_colours if self.vertex_colours is not None and len(gl_vertices) == len(
            self.vertex_colours) else None
        primitive = pyrender.Primitive(positions=gl_vertices, normals=vertex_normals(gl_vertices, faces),
                                       indices=faces, material=self.material, color_0=colours)
        if self.mesh_node is not None:
            self.scene.remove_node(self.mesh_node)
        self.mesh_node = self.scene.add(pyrender.Mesh([primitive]))
        if self.camera_node is not None:
            self.scene.remove_node(self.camera_node)
        cx, cy = camera.center
        lens = pyrender.IntrinsicsCamera(camera.focal_length, camera.focal_length, cx, cy, znear=0.05, zfar=100.0)
        self.camera_node = self.scene.add(lens, pose=np.eye(4))
        color, depth = self.renderer.render(self.scene)
        image = np.ascontiguousarray(color[..., ::-1])
        if colours is not None and face_points is not None and faces_the_camera(face_points):
            # The face is painted on; whatever the depth buffer holds nearer than the face (a hand) stays on top.
            in_front = (depth > 0) & (depth < np.asarray(face_points)[:, 2].min())
            drawn = image.copy()
            demo_figure.draw_face(drawn, demo_figure.project(face_points, camera.focal_length, camera.center))
            image = np.where(in_front[..., None], image, drawn)
        return image

    def close(self) -> None:
        """Free the GL context. Keep one PyrenderRenderer at a time: EGL teardown ends the process's display."""
        try:
            self.renderer.delete()
        except Exception:  # the display may already be gone; nothing is left to free
            pass


def make_renderer(kind: str = "auto", size: tuple[int, int] = PREVIEW_SIZE, figure: Figure | None = None):
    """'builtin', 'pyrender' (an error when it cannot run), or 'auto': pyrender on a GPU, else builtin.

    `figure` (demo_figure.dress) draws the body dressed; None, the wooden mannequin.
    """
    if kind not in RENDERERS:
        raise Dr2Error(f"unknown renderer {kind!r}; use one of {', '.join(RENDERERS)}")
    if kind == "builtin":
        return BuiltinRenderer(size, figure)
    try:
        renderer = PyrenderRenderer(size, figure)
    except Exception as error:  # ImportError, no EGL/OSMesa, no display: pyrender raises many kinds
        if kind == "pyrender":
            raise Dr2Error(f"pyrender cannot render offscreen here ({type(error).__name__}: {error}); "
                           f"pip install pyrender-maintained and have EGL or OSMesa (set PYOPENGL_PLATFORM), "
                           f"or use --renderer builtin") from None
        return BuiltinRenderer(size, figure)
    if kind == "auto" and renderer.is_software():
        renderer.close()  # a CPU rasteriser behind OpenGL is slower than the built-in one
        return BuiltinRenderer(size, figure)
    return renderer


def describe_renderers() -> str:
    """One line for `dr2 info`: which renderer `--renderer auto` picks here, and why."""
    try:
        probe_renderer = PyrenderRenderer((64, 64))
    except ImportError:
        return "builtin (OpenCV); pyrender not installed (pip install pyrender-maintained)"
    except Exception as error:  # no EGL / OSMesa
        return f"builtin (OpenCV); pyrender installed but cannot render offscreen ({error})"
    gl, software = probe_renderer.gl_renderer(), probe_renderer.is_software()
    probe_renderer.close()
    if software:
        return f"builtin (OpenCV, faster than pyrender on the CPU rasteriser {gl})"
    return f"pyrender on {gl} (PYOPENGL_PLATFORM={os.environ.get('PYOPENGL_PLATFORM')})"


# --- the video ------------------------------------------------------------------------------------------------

def _label(image: np.ndarray, text: str) -> None:
    cv2.putText(image, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, LABEL_COLOR, 1, cv2.LINE_AA)


def render_preview(
    samples: list[dict[str, np.ndarray]],
    body,
    audio_path: Path | None,
    out_path: Path,
    labels: list[str] | None = None,
    renderer: str = "auto",
    size: tuple[int, int] = PREVIEW_SIZE,
    framing: str = "upper",
    look: str = "person",
) -> Path:
    """Render the samples (`smplx.SMPLX` arguments, (T, ·) each) side by side into `out_path` (mp4, with the audio).

    One sample gives a plain preview, several a grid in one row. Frames are
    posed FRAME_BATCH at a time and streamed to ffmpeg, so memory does not
    grow with the length. `look` is one of LOOKS. Returns `out_path`.
    """
    out_path = Path(out_path)
    width, height = size
    if width % 2 or height % 2:
        raise ValueError("preview width and height must be even (yuv420p)")
    frames = min(len(p["body_pose"]) for p in samples)
    layer = body.smplx_layer(batch_size=FRAME_BATCH)
    faces = np.ascontiguousarray(body.arrays().render_faces)
    draw = make_renderer(renderer, size, look_figure(body, look))
    camera = choose_camera(layer, samples, framed_vertices(body, framing), size)

    def frames_of_the_grid():
        canvas = np.empty((height, width * len(samples), 3), np.uint8)
        with progress_bar(total=frames, desc=f"preview {out_path.name}", unit="frame") as bar:
            for start in range(0, frames, FRAME_BATCH):
                stop = min(start + FRAME_BATCH, frames)
                posed = [posed_frames(layer, params, start, stop) for params in samples]
                for i in range(stop - start):
                    for k, (vertices, face_points) in enumerate(posed):
                        tile = draw(vertices[i], faces, camera, face_points[i])
                        if labels and len(samples) > 1:
                            _label(tile, labels[k])
                        canvas[:, k * width:(k + 1) * width] = tile
                    yield canvas
                bar.update(stop - start)

    try:
        return write_video(frames_of_the_grid(), out_path, FPS, audio_path, hint="check free space, or use --no-preview")
    finally:
        if isinstance(draw, PyrenderRenderer):
            draw.close()


def preview_frame(samples: list[dict], body, index: int, labels=None, renderer: str = "builtin",
                  size: tuple[int, int] = PREVIEW_SIZE, framing: str = "upper", look: str = "person") -> np.ndarray:
    """One frame of what render_preview draws, as a BGR image (for docs and checks)."""
    layer = body.smplx_layer(batch_size=FRAME_BATCH)
    faces = np.ascontiguousarray(body.arrays().render_faces)
    draw = make_renderer(renderer, size, look_figure(body, look))
    camera = choose_camera(layer, samples, framed_vertices(body, framing), size)
    tiles = []
    for k, params in enumerate(samples):
        vertices, face_points = posed_frames(layer, params, index, index + 1)
        tile = draw(vertices[0], faces, camera, face_points[0])
        if labels and len(samples) > 1:
            _label(tile, labels[k])
        tiles.append(tile)
    if isinstance(draw, PyrenderRenderer):
        draw.close()
    return np.concatenate(tiles, axis=1)
