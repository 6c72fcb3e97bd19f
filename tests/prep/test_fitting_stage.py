"""The smplx stage: params.npz feeds smplx.SMPLX, the fit resumes after a crash, bad input is a clear error."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from dr2prep.bodymodel.loading import load_body_model
from dr2prep.bodymodel.fast_forward import FastForward
from dr2common.errors import Dr2Error
from dr2common.low_pass import low_pass
from dr2common.ffmpeg_tools import ffmpeg_exe, probe
from dr2prep.fitting import stage as stage_module
from dr2prep.fitting.camera import project
from dr2prep.fitting.fit import FitSettings
from dr2prep.fitting.params_file import load_params, smplx_inputs
from dr2prep.fitting.stage import run_fit_stage
from dr2prep.fitting.synthetic import make_clip
from dr2prep.keypoints.openpose_format import quantize, save_keypoints_npz
from dr2prep.keypoints.stage import KEYPOINTS
from dr2prep.stage import read_record, run_stage
from tests.prep.bodymodel_models import shared_cache

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread (tests/prep/conftest.py)

FRAMES = 24
SETTINGS = FitSettings(first_frame_iterations=10, window=4, iterations=4)


def make_clip_dir(folder, body, frames=FRAMES, size=(1280, 720), seed=4, with_frames=False):
    """A workspace clip whose keypoints stage has finished on synthetic keypoints (focal 5000 camera)."""
    clip = make_clip(body, n_frames=frames, seed=seed, focal_length=5000.0 * size[1] / 720 / 3, image_size=size)
    folder.mkdir(parents=True)
    (folder / "clip.json").write_text(json.dumps({"width": size[0], "height": size[1], "fps": 30, "frames": frames}))

    def build(partial):
        (partial / "keypoints").mkdir()
        save_keypoints_npz(partial / "keypoints" / "keypoints.npz", quantize(clip.keypoints), size)

    run_stage(folder, KEYPOINTS, {}, None, build)
    if with_frames:
        (folder / "frames").mkdir()
        for t in range(frames):
            cv2.imwrite(str(folder / "frames" / f"{t + 1:06d}.jpg"), np.full((size[1], size[0], 3), 80, np.uint8))
    return clip


@pytest.fixture(scope="module")
def fitted(body, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit") / "clip"
    clip = make_clip_dir(folder, body)
    settings = dataclasses.replace(SETTINGS, focal_length=clip.focal_length)
    run_fit_stage(folder, body, settings, "cpu")
    return folder, clip, settings


def test_params_have_the_documented_layout(fitted):
    folder, clip, settings = fitted
    params = load_params(folder / "smplx" / "params.npz")
    shapes = {"betas": (10,), "global_orient": (FRAMES, 3), "transl": (FRAMES, 3), "body_pose": (FRAMES, 63),
              "jaw_pose": (FRAMES, 3), "leye_pose": (FRAMES, 3), "reye_pose": (FRAMES, 3),
              "left_hand_pose": (FRAMES, 45), "right_hand_pose": (FRAMES, 45), "expression": (FRAMES, 10),
              "camera_center": (2,), "image_size": (2,), "loss": (FRAMES,), "reprojection_px": (FRAMES,),
              "detected": (FRAMES,)}
    for key, shape in shapes.items():
        assert params[key].shape == shape, key
    assert str(params["model_kind"]) == "open" and "left_hand_pca" not in params
    assert float(params["focal_length"]) == pytest.approx(clip.focal_length)
    assert params["camera_center"].tolist() == [640.0, 360.0] and float(params["fps"]) == 30
    assert params["detected"].dtype == bool
    assert not params["detected"][clip.failed_frames].any() and params["detected"].sum() == FRAMES - len(clip.failed_frames)
    # The paper's fixed shape and orientation: one betas, the same orientation in every frame.
    assert (params["global_orient"] == params["global_orient"][0]).all()
    assert np.nanmedian(params["reprojection_px"]) < 5.0
    report = json.loads((folder / "smplx" / "report.json").read_text())
    assert report["mode"] == "window" and report["frames"] == FRAMES
    assert report["reprojection_px"]["median"] == pytest.approx(np.nanmedian(params["reprojection_px"]), abs=1e-3)
    assert report["reprojection_fraction_of_height"]["median"] == pytest.approx(report["reprojection_px"]["median"] / 720,
                                                                                abs=1e-5)
    assert report["settings"]["window"] == 4 and report["seconds"]["per_frame"] > 0


def test_params_feed_smplx_and_reproduce_the_fit(fitted, body):
    folder, clip, _ = fitted
    params = load_params(folder / "smplx" / "params.npz")
    layer = body.smplx_layer(batch_size=FRAMES)
    with torch.no_grad():
        output = layer(**smplx_inputs(params))
        forward = FastForward(body, params["betas"])
        inputs = smplx_inputs(params)
        points = forward(inputs["global_orient"], inputs["body_pose"], inputs["jaw_pose"], inputs["left_hand_pose"],
                         inputs["right_hand_pose"], inputs["expression"], inputs["transl"]).points
    assert (output.joints[:, :55] - forward.forward(inputs["global_orient"], inputs["body_pose"], inputs["jaw_pose"],
            inputs["left_hand_pose"], inputs["right_hand_pose"], inputs["expression"], inputs["transl"]).joints).abs().max() < 1e-5
    # smplx's keypoints, seen by the stored camera, are the ones whose error the fit reports.
    from dr2prep.bodymodel.openpose_correspondence import OPENPOSE_FROM_SMPLX

    smplx_points = output.joints[:, OPENPOSE_FROM_SMPLX]
    assert (smplx_points - points).abs().max() < 1e-5
    pixels = project(smplx_points, float(params["focal_length"]), torch.as_tensor(params["camera_center"])).numpy()
    keypoints = quantize(clip.keypoints)
    seen = (keypoints[..., 2] >= 0.3)
    seen[:, [1, 9, 12, 67 + 68, 67 + 69]] = False  # points the fit does not use (see objective.keypoint_weights)
    distance = np.linalg.norm(pixels - keypoints[..., :2], axis=-1)
    expected = np.array([distance[t][seen[t]].mean() if seen[t].any() else np.nan for t in range(FRAMES)])
    np.testing.assert_allclose(params["reprojection_px"], expected, rtol=1e-4, atol=1e-3)


def test_an_unchanged_clip_is_not_refitted(fitted, body):
    folder, _, settings = fitted
    assert run_fit_stage(folder, body, settings, "cpu").skipped
    assert not run_fit_stage(folder, body, dataclasses.replace(settings, iterations=3), "cpu").skipped


def test_the_fit_is_written_low_passed_within_shots(body, tmp_path):
    """params.npz holds the raw fit low-passed at settings.low_pass_hz; 0 writes the raw fit."""
    assert SETTINGS.low_pass_hz == 8.0  # the default
    params = {}
    for name, hz in (("smooth", 8.0), ("raw", 0.0)):
        clip = make_clip_dir(tmp_path / name, body)  # the same synthetic clip twice
        settings = dataclasses.replace(SETTINGS, focal_length=clip.focal_length, low_pass_hz=hz)
        run_fit_stage(tmp_path / name, body, settings, "cpu")
        params[name] = load_params(tmp_path / name / "smplx" / "params.npz")
    smooth, raw, raw_folder = params["smooth"], params["raw"], tmp_path / "raw"
    for key in ("body_pose", "expression"):
        np.testing.assert_allclose(smooth[key], low_pass(raw[key], [(0, FRAMES)], 30.0, 8.0), atol=1e-5, err_msg=key)
        assert np.abs(np.diff(smooth[key], 3, axis=0)).mean() < 0.7 * np.abs(np.diff(raw[key], 3, axis=0)).mean()
    report = json.loads((raw_folder / "smplx" / "report.json").read_text())
    assert report["settings"]["low_pass_hz"] == 0.0
    with pytest.raises(Dr2Error, match="--low-pass-hz must be 0"):
        run_fit_stage(raw_folder, body, dataclasses.replace(settings, low_pass_hz=15.0), "cpu")


@pytest.mark.slow
def test_a_crashed_fit_resumes_where_it_stopped(body, tmp_path, monkeypatch):
    """Chunks commit as they finish: after a crash in the third chunk the re-run fits only
    the rest, and the result equals an uninterrupted run's."""
    monkeypatch.setattr(stage_module, "CHUNK_FRAMES", 8)
    clip = make_clip_dir(tmp_path / "whole", body)
    settings = dataclasses.replace(SETTINGS, focal_length=clip.focal_length)
    run_fit_stage(tmp_path / "whole", body, settings, "cpu")
    whole = load_params(tmp_path / "whole" / "smplx" / "params.npz")

    make_clip_dir(tmp_path / "crash", body)
    real_fit_sequence = stage_module.fit_sequence
    started = []

    def crashing(objective, keypoints, reference, settings, device, start=0, previous_x=None, chunk_frames=128,
                 cuts=(), end=None):
        started.append(start)
        for n, chunk in enumerate(real_fit_sequence(objective, keypoints, reference, settings, device, start,
                                                    previous_x, chunk_frames, cuts=cuts, end=end)):
            if len(started) == 1 and n == 2:
                raise RuntimeError("power cut")
            yield chunk

    monkeypatch.setattr(stage_module, "fit_sequence", crashing)
    with pytest.raises(RuntimeError, match="power cut"):
        run_fit_stage(tmp_path / "crash", body, settings, "cpu")
    assert read_record(tmp_path / "crash", "smplx") is None
    assert len(list((tmp_path / "crash" / ".partial" / "smplx" / "chunks").glob("chunk-*.npz"))) == 2

    def no_reference_fit(*args, **kwargs):
        raise AssertionError("the reference fit was redone")

    monkeypatch.setattr(stage_module, "fit_reference_frames", no_reference_fit)
    run_fit_stage(tmp_path / "crash", body, settings, "cpu")
    assert started == [0, 16]
    resumed = load_params(tmp_path / "crash" / "smplx" / "params.npz")
    for key in ("betas", "global_orient", "transl", "body_pose", "left_hand_pose", "expression", "loss"):
        np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
    assert not (tmp_path / "crash" / ".partial" / "smplx").exists()


def test_missing_keypoints_and_bad_settings_are_clear_errors(body, tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    (folder / "clip.json").write_text(json.dumps({"width": 64, "height": 48, "fps": 30, "frames": 2}))
    with pytest.raises(Dr2Error, match="needs stage 'keypoints'"):
        run_fit_stage(folder, body, FitSettings(), "cpu")
    with pytest.raises(Dr2Error, match="--mode must be one of"):
        run_fit_stage(folder, body, FitSettings(mode="fast"), "cpu")
    with pytest.raises(Dr2Error, match="--focal-length must be positive"):
        run_fit_stage(folder, body, FitSettings(focal_length=0.0), "cpu")


def test_a_clip_with_nobody_in_it_is_a_clear_error(body, tmp_path):
    folder = tmp_path / "clip"
    make_clip_dir(folder, body, frames=4)
    empty = np.zeros((4, 137, 3), np.float32)

    def nobody(partial):  # through the stage, so the record fingerprints the empty detections
        (partial / "keypoints").mkdir()
        save_keypoints_npz(partial / "keypoints" / "keypoints.npz", empty, (1280, 720))

    run_stage(folder, KEYPOINTS, {}, None, nobody, force=True)
    assert read_record(folder, "keypoints") is not None
    with pytest.raises(Dr2Error, match="no body keypoints in any frame"):
        run_fit_stage(folder, body, SETTINGS, "cpu", force=True)


@pytest.mark.slow
def test_overlay_draws_the_fit_over_the_frames_with_audio(body, tmp_path, make_video):
    """A short clip at 320x180: overlay.mp4 has every frame and the audio track, and the body is drawn."""
    folder = tmp_path / "clip"
    clip = make_clip_dir(folder, body, frames=12, size=(320, 180), with_frames=True)
    video = make_video(seconds=0.4, fps=30, size=(320, 180))
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-vn", "-ac", "1", "-ar", "16000",
                    str(folder / "audio.wav")], check=True)
    run_fit_stage(folder, body, dataclasses.replace(SETTINGS, focal_length=clip.focal_length), "cpu", overlay=True)
    out = folder / "smplx" / "overlay.mp4"
    info = probe(out)
    assert info.has_video and info.has_audio and (info.width, info.height) == (320, 180)
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(out), "-map", "0:v", "-f", "rawvideo", "-pix_fmt",
                          "gray", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 180, 320)
    assert len(frames) == 12
    assert (np.abs(frames.astype(int) - 80) > 20).mean(axis=(1, 2)).min() > 0.02  # the body covers part of each frame


@pytest.mark.slow
def test_a_vposer_snapshot_becomes_the_body_code(body, tmp_path):
    """With VPoser v1.0 the body pose is its 32-dim code (a random network stands in for the snapshot)."""
    from dr2prep.bodymodel.vposer import VPoserV1

    torch.manual_seed(0)
    snapshot = tmp_path / "TR00_E096.pt"
    torch.save(VPoserV1().state_dict(), snapshot)
    clip = make_clip_dir(tmp_path / "clip", body, frames=8)
    settings = dataclasses.replace(SETTINGS, focal_length=clip.focal_length, vposer=str(snapshot))
    run_fit_stage(tmp_path / "clip", body, settings, "cpu")
    params = load_params(tmp_path / "clip" / "smplx" / "params.npz")
    assert params["vposer_code"].shape == (8, 32) and params["body_pose"].shape == (8, 63)
    network = VPoserV1()
    network.load_state_dict(torch.load(snapshot, weights_only=True))
    with torch.no_grad():
        decoded = network.decode(torch.as_tensor(params["vposer_code"])).numpy()
    np.testing.assert_allclose(params["body_pose"], decoded, atol=1e-5)
    record = read_record(tmp_path / "clip", "smplx")
    assert "vposer" in record["inputs"] and record["settings"]["vposer"] == str(snapshot.resolve())
    with pytest.raises(Dr2Error, match="VPoser"):
        run_fit_stage(tmp_path / "clip", body, dataclasses.replace(settings, vposer=str(tmp_path / "none.pt")), "cpu")


@pytest.mark.slow
def test_a_licensed_model_fits_hands_as_pca_codes(tmp_path, tmp_path_factory):
    """A model in SMPL-X's own format (hand PCA, yaw-dependent face contour; random arrays
    stand in for the licensed file): hands are 12 MANO codes, also written out in full."""
    from dr2prep.bodymodel.synthetic_smplx import write_synthetic_smplx

    model = write_synthetic_smplx(tmp_path / "SMPLX_NEUTRAL.npz", seed=7, shape_space=400)
    smplx_body = load_body_model(model, cache=shared_cache(tmp_path_factory))
    clip = make_clip_dir(tmp_path / "clip", smplx_body, frames=8)
    run_fit_stage(tmp_path / "clip", smplx_body, dataclasses.replace(SETTINGS, focal_length=clip.focal_length), "cpu")
    params = load_params(tmp_path / "clip" / "smplx" / "params.npz")
    assert str(params["model_kind"]) == "smplx"
    assert params["left_hand_pca"].shape == (8, 12) and params["right_hand_pose"].shape == (8, 45)
    expected = params["left_hand_pca"] @ smplx_body.hand_pca.left
    np.testing.assert_allclose(params["left_hand_pose"], expected, atol=1e-5)
    layer = smplx_body.smplx_layer(batch_size=8, use_hand_pca=True)
    inputs = smplx_inputs(params)
    inputs["left_hand_pose"] = torch.as_tensor(params["left_hand_pca"])
    inputs["right_hand_pose"] = torch.as_tensor(params["right_hand_pca"])
    with torch.no_grad():
        pca_joints = layer(**inputs).joints
        full_joints = smplx_body.smplx_layer(batch_size=8)(**smplx_inputs(params)).joints
    assert (pca_joints - full_joints).abs().max() < 1e-5
    assert np.isfinite(params["reprojection_px"][params["detected"]]).all()


def two_shot_clip_dir(folder, body, cut=12, shift_px=250.0, size=(1280, 720)):
    """A clip of two shots of one synthetic speaker: frames 0..cut-1 of a sequence, then frames 40.. of it
    (another pose) seen by a camera panned `shift_px` to the left. Returns the clip and its frame order."""
    clip = make_clip(body, n_frames=60, seed=4, focal_length=5000.0 / 3, image_size=size, failures=0)
    order = np.r_[np.arange(cut), np.arange(40, 40 + FRAMES - cut)]
    keypoints = quantize(clip.keypoints)[order]
    seen = keypoints[cut:, :, 2] > 0
    keypoints[cut:, :, 0][seen] += shift_px
    folder.mkdir(parents=True)
    (folder / "clip.json").write_text(json.dumps({"width": size[0], "height": size[1], "fps": 30, "frames": FRAMES}))

    def build(partial):
        (partial / "keypoints").mkdir()
        save_keypoints_npz(partial / "keypoints" / "keypoints.npz", keypoints, size)

    run_stage(folder, KEYPOINTS, {}, None, build)
    return clip, order


def fitted_pose_error_mm(body, params, clip, order) -> np.ndarray:
    """(T,) pelvis-aligned upper-body joint error of the fit against the true poses, mm."""
    from dr2prep.fitting.metrics import mpjpe

    forward = FastForward(body, params["betas"])
    inputs = smplx_inputs(params)
    with torch.no_grad():
        joints = forward.forward(inputs["global_orient"], inputs["body_pose"], inputs["jaw_pose"],
                                 inputs["left_hand_pose"], inputs["right_hand_pose"], inputs["expression"],
                                 inputs["transl"]).joints.numpy()
    return mpjpe(joints, clip.joints[order])


@pytest.mark.slow
def test_each_shot_is_fitted_as_its_own_sequence(body, tmp_path):
    """Across a cut there is no warm start and no motion tie: the frames after it fit their own shot at once,
    where a fit that treats the cut as motion ramps towards it (the motion loss holds the old pose and place)."""
    cut = 12
    results = {}
    for name, cuts in (("shots", [cut]), ("one sequence", [])):
        folder = tmp_path / name
        clip, order = two_shot_clip_dir(folder, body, cut)
        if cuts:
            (folder / "shots").mkdir()
            (folder / "shots" / "shots.json").write_text(json.dumps({"cuts": [{"frame": c} for c in cuts]}))
        settings = dataclasses.replace(SETTINGS, focal_length=clip.focal_length)
        run_fit_stage(folder, body, settings, "cpu")
        params = load_params(folder / "smplx" / "params.npz")
        report = json.loads((folder / "smplx" / "report.json").read_text())
        after = slice(cut, cut + 4)  # the first frames of the second shot
        results[name] = (params["reprojection_px"][after].mean(),
                         fitted_pose_error_mm(body, params, clip, order)[after].mean())
        assert report["shots"]["cuts"] == cuts and params["shot_starts"].tolist() == cuts
    print("\nfirst 4 frames after the cut: reprojection px, pose error mm:", results)
    (px_shots, mm_shots), (px_joined, mm_joined) = results["shots"], results["one sequence"]
    assert px_shots < 4.0 and px_joined > 1.5 * px_shots  # measured: 2.2 px against 5.0 px
    assert mm_joined > 2 * mm_shots  # measured: 35 mm against 112 mm


def test_shot_groups_cover_the_frames_once_and_start_at_cuts():
    groups = stage_module.shot_groups(0, 100, [10, 20, 50, 60, 90], parts=3)
    assert groups[0][0] == 0 and groups[-1][1] == 100
    assert all(b == a for (_, b), (a, _) in zip(groups, groups[1:]))  # contiguous, no frame twice
    assert {a for a, _ in groups[1:]} <= {10, 20, 50, 60, 90} and len(groups) == 3
    assert stage_module.shot_groups(16, 100, [10, 50], parts=4) == [(16, 50), (50, 100)]  # resumed at 16
    assert stage_module.shot_groups(0, 40, [], parts=4) == [(0, 40)]


@pytest.mark.slow
def test_shots_fitted_by_two_workers_equal_one_pass(body, tmp_path, monkeypatch):
    """Workers fit ranges of whole shots side by side; the chunk and window grid is the clip's, so the
    params are bit-identical to one process's (with cuts off the grid and chunks that span them)."""
    monkeypatch.setattr(stage_module, "CHUNK_FRAMES", 8)
    monkeypatch.setattr(stage_module, "FIT_FRAMES_PER_WORKER", 1)  # a real clip would need 600 frames for 2
    cuts = [7, 13, 21]
    params = []
    for workers in (1, 2):
        folder = tmp_path / f"w{workers}"
        clip = make_clip_dir(folder, body, frames=30)
        (folder / "shots").mkdir()
        (folder / "shots" / "shots.json").write_text(json.dumps({"cuts": [{"frame": c} for c in cuts]}))
        settings = dataclasses.replace(SETTINGS, focal_length=clip.focal_length)
        run_fit_stage(folder, body, settings, "cpu", workers=workers)
        params.append(load_params(folder / "smplx" / "params.npz"))
    assert np.nanmean(params[0]["reprojection_px"]) < 10  # a real fit, so the comparison means something
    for key in ("betas", "transl", "body_pose", "left_hand_pose", "right_hand_pose", "expression", "loss"):
        np.testing.assert_array_equal(params[0][key], params[1][key], err_msg=key)


def test_the_warm_up_imports_what_the_fit_would_import_on_its_critical_path():
    """`dr2 prep` runs warm_up_fit_stage beside keypoint detection. The fit stage imports torch._dynamo
    (through its first ops) and scipy.signal (for the low-pass) only when it needs them, on one core
    while the other idles, unless the warm-up has already done so."""
    code = ("import sys; from dr2prep.fitting.stage import warm_up_fit_stage; "
            "lazy = ('torch._dynamo', 'scipy.signal'); print([m in sys.modules for m in lazy]); "
            "warm_up_fit_stage(); print([m in sys.modules for m in lazy])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["[False, False]", "[True, True]"]
