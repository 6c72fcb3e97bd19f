"""The CUDA code paths: fit, mixed-precision training and the DeepSpeech port on a GPU, against the CPU.

Marked `cuda` and skipped without a CUDA device; `make gpu-check` runs them (`pytest -m cuda`).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dr2common.progress import set_quiet

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.fixture(autouse=True)
def quiet():
    set_quiet(True)
    yield
    set_quiet(False)


def test_fit_on_cuda_reprojects_as_well_as_on_the_cpu():
    from dr2prep.bodymodel.loading import load_body_model
    from dr2prep.fitting.fit import FitSettings, clip_objective, fit_reference_frames, fit_sequence
    from dr2prep.fitting.objective import reprojection_error_px
    from dr2prep.fitting.synthetic import make_clip

    body = load_body_model("open")
    settings = FitSettings()
    clip = make_clip(body, n_frames=64, seed=0, focal_length=settings.focal_length)
    medians = {}
    for device in ("cpu", "cuda"):
        reference = fit_reference_frames(body, clip.keypoints, settings, clip.image_size, device)
        objective = clip_objective(body, reference, settings, clip.image_size, device)
        x = np.concatenate([c.x for c in fit_sequence(objective, clip.keypoints, reference, settings, device)])
        assert np.isfinite(x).all()
        orient = torch.as_tensor(reference.global_orient[None], dtype=torch.float32, device=device)
        with torch.no_grad():
            _, projected = objective.points(torch.as_tensor(x, device=device), orient)
            error = reprojection_error_px(projected, torch.as_tensor(clip.keypoints, device=device)).cpu().numpy()
        medians[device] = float(np.nanmedian(error))
    assert medians["cuda"] <= 1.1 * medians["cpu"] + 0.5, medians


def test_amp_training_on_cuda_lowers_the_loss_and_saves_a_loadable_model(tmp_path):
    from dr2model.checkpoint import load_model
    from dr2model.train import TrainSettings, train_model
    from tests.model.synthetic import learnable_clip

    settings = TrainSettings(batch_size=8, window_stride=8, log_every=1, checkpoint_every=1000, max_steps=40)
    result = train_model([learnable_clip(300, seed=0), learnable_clip(300, seed=1)], tmp_path / "model", settings,
                         device="cuda")
    losses = [loss for _, loss in result.history]
    assert np.isfinite(losses).all() and np.mean(losses[-5:]) < np.mean(losses[:5])
    assert load_model(result.model_dir) is not None


def test_deepspeech_port_on_cuda_matches_the_cpu(tmp_path):
    from dr2prep.audio.deepspeech_graph import random_deepspeech_tensors, write_constants_graph
    from dr2prep.audio.extractor import make_extractor
    from dr2prep.audio.mfcc import deepspeech_input

    graph = write_constants_graph(tmp_path / "output_graph.pb", random_deepspeech_tensors(n_hidden=64, seed=3))
    samples = np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1
    features = deepspeech_input(samples)
    cpu = make_extractor("deepspeech", graph, "cpu").logits(features, show_progress=False)
    cuda = make_extractor("deepspeech", graph, "cuda").logits(features, show_progress=False)
    np.testing.assert_allclose(cuda, cpu, rtol=1e-3, atol=1e-3)
