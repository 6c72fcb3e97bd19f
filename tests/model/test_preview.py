"""Preview videos: frames and audio of the right length, the grid, framing, and the two renderers agreeing."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

from dr2model.preview import (
    BuiltinRenderer,
    PreviewCamera,
    frame_camera,
    make_renderer,
    preview_frame,
    render_preview,
)
from dr2model.render import BACKGROUND
from dr2model.synthesis import load_sample, synthesize
from dr2prep.bodymodel.loading import load_body_model
from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import ffmpeg_exe, probe
from tests.model.tiny_model import speech_wav


pytestmark = pytest.mark.usefixtures("quiet_one_thread")


@pytest.fixture(scope="module")
def body():
    return load_body_model("open")


def count_frames(path) -> int:
    """Video frames in `path` (ffmpeg's frame counter after copying the stream)."""
    result = subprocess.run([ffmpeg_exe(), "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "null", "-"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return int(result.stderr.rsplit("frame=", 1)[1].split()[0])


def body_mask(image: np.ndarray) -> np.ndarray:
    return np.abs(image.astype(int) - np.array(BACKGROUND)).sum(axis=2) > 30


def test_preview_has_every_frame_and_the_audio(model_dir, tmp_path):
    wav = speech_wav(tmp_path / "speech.wav", 2.0, seed=5)
    outputs = synthesize(model_dir, wav, tmp_path / "out", num_samples=1, renderer="builtin")
    video = outputs[0].preview_path
    assert video == outputs[0].params_path.with_suffix(".mp4") and video.is_file()
    info = probe(video)
    assert info.has_video and info.has_audio and (info.width, info.height) == (480, 480)
    assert count_frames(video) == outputs[0].frames == 60
    assert abs(info.duration - 2.0) < 0.1
    assert not list((tmp_path / "out").glob(".*tmp*"))  # written through a temporary name


def test_grid_puts_samples_side_by_side(model_dir, tmp_path):
    wav = speech_wav(tmp_path / "speech.wav", 1.0, seed=6)
    outputs = synthesize(model_dir, wav, tmp_path / "out", num_samples=2, grid=True, renderer="builtin")
    assert outputs[0].preview_path == outputs[1].preview_path == tmp_path / "out" / "speech_grid.mp4"
    info = probe(outputs[0].preview_path)
    assert (info.width, info.height) == (960, 480) and info.has_audio
    assert not list((tmp_path / "out").glob("speech_seed*.mp4"))


def test_framing_puts_the_upper_body_in_view(model_dir, body, tmp_path):
    wav = speech_wav(tmp_path / "speech.wav", 1.0, seed=7)
    outputs = synthesize(model_dir, wav, tmp_path / "out", num_samples=2, preview=False)
    samples = [load_sample(o.params_path) for o in outputs]
    image = preview_frame(samples, body, 10, labels=["a", "b"])
    assert image.shape == (480, 960, 3)
    for tile in (image[:, :480], image[:, 480:]):
        ys, xs = np.nonzero(body_mask(tile[30:]))  # below the label
        assert len(ys) > 0.05 * 480 * 450  # the body fills a good part of the picture
        assert xs.min() > 5 and xs.max() < 475  # arms and head are inside the frame


def test_frame_camera_centres_and_fills():
    points = np.array([[-0.5, -1.0, 4.0], [0.5, 1.0, 4.0], [0.0, 0.0, 4.0]])
    camera = frame_camera(points, (400, 400), fill=0.8)
    assert camera.focal_length == pytest.approx(0.8 * 400 / 0.5)
    assert camera.center == pytest.approx((200.0, 200.0))
    shifted = frame_camera(points + [1.0, 0.0, 0.0], (400, 400), fill=0.8)
    assert shifted.center[0] == pytest.approx(200 - shifted.focal_length * 0.25)


def test_unknown_renderer():
    with pytest.raises(Dr2Error, match="unknown renderer"):
        make_renderer("raytracer")


def test_pyrender_and_builtin_draw_the_same_silhouette(body):
    pytest.importorskip("pyrender")
    try:
        offscreen = make_renderer("pyrender", (320, 400))
    except Dr2Error as error:
        pytest.skip(str(error))
    layer = body.smplx_layer()
    body_pose = torch.zeros(1, 63)
    body_pose[0, 16 * 3 + 2], body_pose[0, 17 * 3 + 2] = -1.0, 1.0  # arms raised
    with torch.no_grad():
        vertices = layer(global_orient=torch.tensor([[np.pi, 0.0, 0.0]]), transl=torch.tensor([[0.1, 0.3, 3.0]]),
                         body_pose=body_pose).vertices[0].numpy()
    camera = PreviewCamera(600.0, (150.0, 220.0))  # off-centre principal point: conventions must agree
    faces = body.arrays().render_faces
    a = body_mask(offscreen(vertices, faces, camera))
    b = body_mask(BuiltinRenderer((320, 400))(vertices, faces, camera))
    offscreen.close()
    assert (a & b).sum() / (a | b).sum() > 0.9
    for mask in (a, b):
        ys, xs = np.nonzero(mask)
        assert abs(xs.mean() - np.nonzero(b)[1].mean()) < 2 and abs(ys.mean() - np.nonzero(b)[0].mean()) < 2


def test_render_preview_refuses_odd_sizes(body, tmp_path):
    params = {k: np.zeros((2, d), np.float32) for k, d in
              (("betas", 10), ("global_orient", 3), ("body_pose", 63), ("jaw_pose", 3), ("leye_pose", 3),
               ("reye_pose", 3), ("left_hand_pose", 45), ("right_hand_pose", 45), ("expression", 10), ("transl", 3))}
    with pytest.raises(ValueError, match="even"):
        render_preview([params], body, None, tmp_path / "x.mp4", size=(481, 480))


def square(center, half: float, tilt: float = 0.0):
    """Two triangles of a square facing the camera (tilted about y by `tilt` rad), wound to face -z."""
    c, s = np.cos(tilt), np.sin(tilt)
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    vertices = np.array([[x * c, y, -x * s] for x, y in corners]) + center
    return vertices, np.array([[0, 2, 1], [0, 3, 2]])


def test_builtin_renderer_projects_and_orders_by_depth():
    from dr2model.render import render_mesh

    near_v, near_f = square([0.0, 0.0, 2.0], 0.1)
    far_v, far_f = square([0.0, 0.0, 4.0], 0.6, tilt=1.0)  # larger, behind, turned away: darker
    vertices = np.concatenate([far_v, near_v])
    faces = np.concatenate([far_f, near_f + len(far_v)])
    image = render_mesh(vertices, faces, (200, 200), 400.0)
    # The near square spans 400 * 0.1 / 2 = 20 px around the centre and is drawn in full light.
    np.testing.assert_allclose(image[100, 100], [120, 170, 210], atol=8)  # MESH_COLOR, shade quantised
    assert body_mask(image)[100, 79:121].all() and not body_mask(image[[0, 199]]).any()
    # Around it, the far square shows, shaded darker (it is turned away from the camera).
    far_pixel = image[100, 130]
    assert body_mask(image)[100, 130] and far_pixel.sum() < image[100, 100].sum()
    # Wound the other way (a back face), the near square is not drawn.
    back = render_mesh(near_v, near_f[:, ::-1], (200, 200), 400.0)
    assert not body_mask(back).any()
