"""VPoser v1.0 body code: snapshot loading without pickle, rotation conversions, codecs round trip."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dr2model.codecs import Codecs, fit_codecs
from dr2prep.bodymodel.vposer import VPoserV1, load_vposer_v1, matrix_to_axis_angle, rotation_from_6d
from dr2common.errors import Dr2Error
from tests.model.synthetic import audio_features, smplx_params

V1_KEYS = {
    "bodyprior_enc_bn1.weight", "bodyprior_enc_bn1.bias", "bodyprior_enc_bn1.running_mean",
    "bodyprior_enc_bn1.running_var", "bodyprior_enc_bn1.num_batches_tracked",
    "bodyprior_enc_fc1.weight", "bodyprior_enc_fc1.bias",
    "bodyprior_enc_bn2.weight", "bodyprior_enc_bn2.bias", "bodyprior_enc_bn2.running_mean",
    "bodyprior_enc_bn2.running_var", "bodyprior_enc_bn2.num_batches_tracked",
    "bodyprior_enc_fc2.weight", "bodyprior_enc_fc2.bias", "bodyprior_enc_mu.weight", "bodyprior_enc_mu.bias",
    "bodyprior_enc_logvar.weight", "bodyprior_enc_logvar.bias", "bodyprior_dec_fc1.weight", "bodyprior_dec_fc1.bias",
    "bodyprior_dec_fc2.weight", "bodyprior_dec_fc2.bias", "bodyprior_dec_out.weight", "bodyprior_dec_out.bias",
}


class Arbitrary:
    """An object only pickle can restore."""


@pytest.fixture
def snapshot(tmp_path):
    """A v1.0-shaped snapshot: an OrderedDict state dict saved with torch.save, as TR00_E096.pt is."""
    torch.manual_seed(0)
    state = collections.OrderedDict(VPoserV1().state_dict())
    folder = tmp_path / "vposer_v1_0" / "snapshots"
    folder.mkdir(parents=True)
    torch.save(state, folder / "TR00_E096.pt")
    return folder / "TR00_E096.pt"


def test_state_dict_has_the_v1_layer_names():
    assert set(VPoserV1().state_dict()) == V1_KEYS


def test_matrix_to_axis_angle_matches_scipy():
    rotvecs = Rotation.random(500, random_state=1).as_rotvec()
    rotvecs = np.concatenate([rotvecs, [[0, 0, 0], [1e-6, 0, 0], [np.pi - 1e-4, 0, 0], [0, 0, -3.1]]])
    matrices = torch.from_numpy(Rotation.from_rotvec(rotvecs).as_matrix())
    result = matrix_to_axis_angle(matrices).numpy()
    back = Rotation.from_rotvec(result).as_matrix()
    np.testing.assert_allclose(back, matrices.numpy(), atol=1e-6)


def test_rotation_from_6d_is_a_rotation():
    r = rotation_from_6d(torch.randn(100, 3, 2, dtype=torch.float64))
    np.testing.assert_allclose((r.transpose(-1, -2) @ r).numpy(), np.broadcast_to(np.eye(3), (100, 3, 3)), atol=1e-10)
    np.testing.assert_allclose(torch.linalg.det(r).numpy(), 1.0, atol=1e-10)


def test_load_snapshot_file_or_folder(snapshot):
    for path in (snapshot, snapshot.parent.parent):
        model = load_vposer_v1(path)
        latent = model.encode(torch.zeros(4, 63))
        assert latent.shape == (4, 32)
        assert model.decode(latent).shape == (4, 63)


def test_unsafe_or_wrong_files_are_refused(tmp_path):
    torch.save({"weights": Arbitrary()}, tmp_path / "pickled.pt")  # needs pickle: refused by weights_only
    with pytest.raises(Dr2Error, match="cannot read"):
        load_vposer_v1(tmp_path / "pickled.pt")
    torch.save({"layer.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(Dr2Error, match="not a VPoser v1.0 snapshot"):
        load_vposer_v1(tmp_path / "other.pt")


def test_vposer_body_code_round_trips_through_saved_codecs(snapshot):
    from safetensors.torch import load_file, save_file

    params = smplx_params(130)
    codecs = fit_codecs([params], [audio_features(130)], vposer=load_vposer_v1(snapshot))
    codecs.clips = [codecs.identity_for(params, "c")]
    pose, face = codecs.encode(params, codecs.clips[0])
    assert pose.shape == (130, 59) and codecs.body.kind == "vposer"
    tensors, meta = codecs.to_tensors()
    path = snapshot.parent / "codecs.safetensors"
    save_file(tensors, path)
    loaded = Codecs.from_tensors(load_file(path), meta)
    np.testing.assert_array_equal(loaded.decode(pose, face, loaded.clips[0])["body_pose"],
                                  codecs.decode(pose, face, codecs.clips[0])["body_pose"])
