"""Preview videos: frames and audio of the right length, the grid, framing, the dressed look, and the renderers agreeing."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

from dr2model import demo_figure
from dr2model.demo_figure import COLOURS, HAIR, SKIN, SLEEVE, VEST
from dr2model.preview import (
    BuiltinRenderer,
    PreviewCamera,
    choose_camera,
    frame_camera,
    framed_vertices,
    look_figure,
    make_renderer,
    posed_frames,
    preview_frame,
    render_preview,
)
from dr2model.render import AMBIENT, BACKGROUND, SHADE_LEVELS
from dr2prep.bodymodel.skeleton import LEFT_EYE, RIGHT_EYE
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


def body_mask(image: np.ndarray, background=BACKGROUND) -> np.ndarray:
    return np.abs(image.astype(int) - np.array(background)).sum(axis=2) > 30


def material_share(image: np.ndarray, material: int) -> float:
    """Share of the pixels that show `material` (its colour at one of the shade levels, within a few units)."""
    levels = AMBIENT + (1 - AMBIENT) * (np.arange(SHADE_LEVELS) + 0.5) / SHADE_LEVELS
    shades = COLOURS[material][None] * levels[:, None]  # (L, 3)
    distance = np.abs(image[:, :, None].astype(float) - shades[None, None]).max(axis=-1).min(axis=-1)
    return float((distance < 12).mean())


def speaker_params(frames: int = 2) -> dict[str, np.ndarray]:
    """`smplx.SMPLX` arguments of a speaker facing the camera, arms lowered, elbows bent, the right hand raised."""
    body_pose = np.zeros((frames, 21, 3), np.float32)
    body_pose[:, 15, 2], body_pose[:, 16, 2] = -1.1, 1.1  # shoulders: arms lowered
    body_pose[:, 17, 1], body_pose[:, 18, 1] = -1.2, 1.2  # elbows bent forwards
    params = {k: np.zeros((frames, d), np.float32) for k, d in
              (("betas", 10), ("jaw_pose", 3), ("leye_pose", 3), ("reye_pose", 3), ("left_hand_pose", 45),
               ("right_hand_pose", 45), ("expression", 10))}
    params.update(global_orient=np.tile(np.float32([np.pi, 0, 0]), (frames, 1)), body_pose=body_pose.reshape(frames, 63),
                  transl=np.tile(np.float32([0.0, 0.3, 3.0]), (frames, 1)))
    return params


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
        ys, xs = np.nonzero(body_mask(tile[30:], demo_figure.BACKGROUND))  # below the label
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


def test_preview_draws_a_dressed_person_by_default(body):
    """The synthesised body wears the demo speaker's dressing: skin, hair, vest, sleeves, and a face with eyes."""
    params = speaker_params()
    person = preview_frame([params], body, 0)
    wooden = preview_frame([params], body, 0, look="wooden")
    for material, least in ((SKIN, 0.01), (HAIR, 0.003), (VEST, 0.05), (SLEEVE, 0.02)):
        assert material_share(person, material) > least, demo_figure.MATERIALS[material]
        if material != SKIN:  # wood and skin share a hue; the rest the mannequin has none of
            assert material_share(wooden, material) < 0.2 * least, demo_figure.MATERIALS[material]
    # the same body in the same place: one silhouette, on each look's own wall
    a, b = body_mask(person, demo_figure.BACKGROUND), body_mask(wooden)
    assert (a & b).sum() / (a | b).sum() > 0.97
    # dark irises where the eyes are
    layer = body.smplx_layer(batch_size=1)
    camera = choose_camera(layer, [params], framed_vertices(body, "upper"), (480, 480))
    with torch.no_grad():
        joints = layer(**{k: torch.as_tensor(v[:1]) for k, v in params.items()}).joints[0].numpy()
    for eye in (LEFT_EYE, RIGHT_EYE):
        x, y = np.round(camera.focal_length * joints[eye, :2] / joints[eye, 2] + camera.center).astype(int)
        assert person[y - 1:y + 2, x - 1:x + 2].mean() < 90 < wooden[y - 1:y + 2, x - 1:x + 2].mean()


def test_unknown_look(body):
    with pytest.raises(Dr2Error, match="unknown look"):
        look_figure(body, "astronaut")


def test_pyrender_draws_the_same_dressed_person(body):
    """pyrender colours the vertices with the dressing and paints the face: it agrees with the built-in painter."""
    pytest.importorskip("pyrender")
    figure = look_figure(body, "person")
    try:
        offscreen = make_renderer("pyrender", (480, 480), figure)
    except Dr2Error as error:
        pytest.skip(str(error))
    params = speaker_params(1)
    layer = body.smplx_layer(batch_size=1)
    camera = choose_camera(layer, [params], framed_vertices(body, "upper"), (480, 480))
    vertices, face_points = posed_frames(layer, params, 0, 1)
    faces = body.arrays().render_faces
    gl = offscreen(vertices[0], faces, camera, face_points[0])
    faceless = offscreen(vertices[0], faces, camera)
    offscreen.close()
    builtin = BuiltinRenderer((480, 480), figure)(vertices[0], faces, camera, face_points[0])
    a, b = body_mask(gl, demo_figure.BACKGROUND), body_mask(builtin, demo_figure.BACKGROUND)
    assert (a & b).sum() / (a | b).sum() > 0.9
    for material in (VEST, SLEEVE, SKIN):  # pyrender's lighting differs: compare where each material lies
        colour = COLOURS[material] / np.linalg.norm(COLOURS[material])
        def where(image):
            pixels = image.reshape(-1, 3).astype(float)
            cosine = pixels @ colour / (np.linalg.norm(pixels, axis=1) + 1e-9)
            return (cosine > 0.995) & body_mask(image, demo_figure.BACKGROUND).reshape(-1)
        overlap = (where(gl) & where(builtin)).sum() / max(where(builtin).sum(), 1)
        assert overlap > 0.5, demo_figure.MATERIALS[material]
    ys, xs = np.nonzero(np.abs(gl.astype(int) - faceless).sum(axis=2) > 60)  # the painted eyes, brows and mouth
    head = np.nonzero(body_mask(builtin, demo_figure.BACKGROUND)[:, 240])[0].min()  # the top of the head
    assert len(ys) > 100 and head < ys.min() and ys.max() < head + 0.25 * 480
