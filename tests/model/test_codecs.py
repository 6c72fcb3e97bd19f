"""Codecs: SMPL-X parameters -> pose state P and face F -> SMPL-X parameters, and through safetensors."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from dr2model.codecs import (
    TRANSLATION_EPS,
    Codecs,
    ManoHands,
    TranslationNorm,
    fit_codecs,
    fit_linear_code,
)
from tests.model.synthetic import audio_features, smplx_params

ROUND_TRIP_KEYS = ("transl", "body_pose", "left_hand_pose", "right_hand_pose", "expression")


@pytest.fixture
def two_clips():
    return [smplx_params(150, seed=0), smplx_params(130, seed=1)]


def fitted(clips, **kwargs) -> Codecs:
    codecs = fit_codecs(clips, [audio_features(len(p["body_pose"]), i) for i, p in enumerate(clips)], **kwargs)
    codecs.clips = [codecs.identity_for(p, f"clip{i}") for i, p in enumerate(clips)]
    return codecs


def test_pose_state_layout_and_round_trip(two_clips):
    codecs = fitted(two_clips)
    for params, identity in zip(two_clips, codecs.clips):
        pose, face = codecs.encode(params, identity)
        assert pose.shape == (len(params["body_pose"]), 59) and face.shape == (len(pose), 10)
        decoded = codecs.decode(pose, face, identity)
        for key in ROUND_TRIP_KEYS:
            np.testing.assert_allclose(decoded[key], params[key], atol=2e-5, err_msg=key)
        np.testing.assert_allclose(decoded["betas"], params["betas"])
        np.testing.assert_allclose(decoded["global_orient"], params["global_orient"], atol=1e-6)
        # the face decoder gives expression only: the jaw is the clip's mean jaw rotation on every frame
        np.testing.assert_allclose(decoded["jaw_pose"], np.tile(params["jaw_pose"].mean(axis=0), (len(pose), 1)),
                                   atol=1e-6)
        assert np.ptp(params["jaw_pose"], axis=0).max() > 0.01  # (the clip's jaw does move: the mean is a choice)


def test_learned_codes_are_whitened(two_clips):
    codecs = fitted(two_clips)
    body = np.concatenate([p["body_pose"] for p in two_clips])
    codes = codecs.body.encode(body)
    # The 20 directions the data spans have unit variance (the rest are padding at the floor scale).
    np.testing.assert_allclose(codes[:, :20].std(axis=0, ddof=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(codes.mean(axis=0), 0.0, atol=1e-4)


def test_translation_is_normalised_per_clip(two_clips):
    codecs = fitted(two_clips)
    params, identity = two_clips[0], codecs.clips[0]
    pose, _ = codecs.encode(params, identity)
    t = params["transl"]
    np.testing.assert_allclose(pose[:, 32:35], (t - t.mean(0)) / (t.std(0) + TRANSLATION_EPS), atol=1e-5)
    assert not np.allclose(codecs.clips[0].translation.mean, codecs.clips[1].translation.mean)


def test_translation_norm_round_trip():
    norm = TranslationNorm.fit(np.array([[0.0, 1.0, 2.0], [0.2, 1.0, 2.4]], np.float32))
    values = np.array([[0.1, 1.0, 2.1]], np.float32)
    np.testing.assert_allclose(norm.denormalise(norm.normalise(values)), values, atol=1e-6)


def test_mano_passthrough_recovers_pca_coefficients(two_clips):
    rng = np.random.default_rng(5)
    left, _ = np.linalg.qr(rng.standard_normal((45, 45)))
    right, _ = np.linalg.qr(rng.standard_normal((45, 45)))
    coeffs = rng.standard_normal((150, 12)).astype(np.float32)
    params = dict(two_clips[0], left_hand_pose=coeffs @ left.T[:12].astype(np.float32),
                  right_hand_pose=-coeffs @ right.T[:12].astype(np.float32))
    codecs = fitted([params], mano=ManoHands(left.T, right.T))
    pose, _ = codecs.encode(params, codecs.clips[0])
    np.testing.assert_allclose(pose[:, 35:47], coeffs, atol=1e-4)
    np.testing.assert_allclose(pose[:, 47:59], -coeffs, atol=1e-4)
    assert codecs.left_hand.kind == "mano"


def test_standing_appends_translation_and_decodes_it(two_clips):
    params = dict(two_clips[0])
    params["camera_translation"] = params["transl"] * 0.5 + 1.0
    codecs = fitted([params], standing=True)
    identity = codecs.clips[0]
    pose, face = codecs.encode(params, identity)
    assert pose.shape[1] == 62 and codecs.slices["standing_translation"] == slice(59, 62)
    decoded = codecs.decode(pose, face, identity)
    np.testing.assert_allclose(decoded["transl"], params["transl"], atol=1e-5)
    np.testing.assert_allclose(decoded["camera_translation"], params["camera_translation"], atol=1e-5)


def test_codecs_round_trip_through_safetensors(tmp_path, two_clips):
    codecs = fitted(two_clips)
    tensors, meta = codecs.to_tensors()
    save_file(tensors, tmp_path / "codecs.safetensors")
    loaded = Codecs.from_tensors(load_file(tmp_path / "codecs.safetensors"), meta)
    assert [c.name for c in loaded.clips] == ["clip0", "clip1"]
    pose, face = codecs.encode(two_clips[1], codecs.clips[1])
    a = codecs.decode(pose, face, codecs.clips[1])
    b = loaded.decode(pose, face, loaded.clips[1])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    features = audio_features(10)
    np.testing.assert_array_equal(loaded.normalise_audio(features), codecs.normalise_audio(features))


def test_fit_linear_code_with_fewer_samples_than_components():
    samples = np.random.default_rng(0).standard_normal((5, 63))
    code = fit_linear_code(samples, 32)
    assert code.basis.shape == (32, 63)
    np.testing.assert_allclose(code.decode(code.encode(samples.astype(np.float32))), samples, atol=1e-4)
