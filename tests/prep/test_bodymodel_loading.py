"""Choosing and checking the body model: the user's SMPL-X .npz (never unpickled) or the open body."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from dr2prep.bodymodel.loading import MODEL_ENV, default_source, describe_default_model, load_body_model
from dr2prep.bodymodel.open_body import mannequin_version
from dr2prep.bodymodel.synthetic_smplx import synthetic_smplx_arrays, write_synthetic_smplx
from dr2common.errors import Dr2Error
from tests.prep.bodymodel_models import shared_cache


class _TouchOnUnpickle:
    """Unpickling this creates a file: proof that something unpickled user data."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def small_arrays():
    return synthetic_smplx_arrays(seed=3, shape_space=20)


def _write(path, arrays):
    np.savez(path, **arrays)
    return path


def test_pkl_model_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    model = tmp_path / "SMPLX_NEUTRAL.pkl"
    model.write_bytes(pickle.dumps(_TouchOnUnpickle(marker)))
    with pytest.raises(Dr2Error, match=r"\.pkl model.*\.npz release"):
        load_body_model(model, cache=tmp_path / "cache")
    assert not marker.exists()


def test_pickle_disguised_as_npz_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    model = tmp_path / "SMPLX_NEUTRAL.npz"
    model.write_bytes(pickle.dumps(_TouchOnUnpickle(marker)))
    with pytest.raises(Dr2Error, match="not an SMPL-X model file.*not an .npz archive"):
        load_body_model(model, cache=tmp_path / "cache")
    assert not marker.exists()


def test_missing_file_and_folder_without_model_say_what_to_pass(tmp_path):
    with pytest.raises(Dr2Error, match="does not exist"):
        load_body_model(tmp_path / "nope.npz")
    with pytest.raises(Dr2Error, match="no SMPLX_NEUTRAL.npz in"):
        load_body_model(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("posedirs"), "no 'posedirs' array"),
        (lambda a: a.update(weights=a["weights"][:, :52]), "'weights' has shape"),
        (lambda a: a.update(kintree_table=a["kintree_table"][:, ::-1].copy()), "kinematic tree is not SMPL-X"),
        (lambda a: a.update(hands_componentsl=a["hands_componentsl"][:6]), "fewer than 12 hand PCA"),
    ],
)
def test_wrong_arrays_are_refused(tmp_path, small_arrays, change, message):
    arrays = dict(small_arrays)
    change(arrays)
    model = _write(tmp_path / "model.npz", arrays)
    with pytest.raises(Dr2Error, match=f"not an SMPL-X model file.*{message}"):
        load_body_model(model, cache=tmp_path / "cache")


def test_release_style_file_loads_through_a_copy_without_its_pickled_entries(tmp_path, small_arrays):
    """SMPL-X's .npz carries pickled dicts; smplx would unpickle them, so dr2 hands it a clean copy."""
    marker = tmp_path / "unpickled"
    arrays = dict(small_arrays, joint2num=np.array(_TouchOnUnpickle(marker), dtype=object))
    folder = tmp_path / "models"
    folder.mkdir()
    model = _write(folder / "SMPLX_NEUTRAL.npz", arrays)

    body = load_body_model(folder, cache=tmp_path / "cache")
    assert body.kind == "smplx" and body.source == str(folder)
    assert body.model_file.parent == tmp_path / "cache" and body.model_file != model
    with np.load(body.model_file, allow_pickle=False) as copy:
        assert "joint2num" not in copy.files
        np.testing.assert_array_equal(copy["v_template"], small_arrays["v_template"])
    assert body.smplx_layer()().joints.shape == (1, 144, 3)
    assert body.hand_pca.left.shape == (12, 45) and body.hand_pca.right.shape == (12, 45)
    np.testing.assert_allclose(body.hand_mean_left, small_arrays["hands_meanl"])
    assert not marker.exists()
    assert load_body_model(model, cache=tmp_path / "cache").model_file == body.model_file  # the copy is reused


def test_clean_file_is_also_loaded_through_a_plain_copy(tmp_path):
    """smplx never opens the user's own file (it loads with allow_pickle=True), not even a clean one."""
    model = write_synthetic_smplx(tmp_path / "model.npz", seed=4, shape_space=20)
    body = load_body_model(model, cache=tmp_path / "cache")
    assert body.model_file.parent == tmp_path / "cache" and body.kind == "smplx"
    assert "SMPL-X from" in body.describe()


def test_hand_pca_to_full_matches_smplx(tmp_path):
    model = write_synthetic_smplx(tmp_path / "model.npz", seed=5, shape_space=20)
    body = load_body_model(model, cache=tmp_path / "cache")
    coefficients = torch.randn(4, 12, dtype=torch.float64)
    layer = body.smplx_layer(use_hand_pca=True, dtype=torch.float64)
    expected = coefficients @ layer.left_hand_components
    full = body.hand_pca.to_full(coefficients, "left")
    torch.testing.assert_close(full, expected)
    np.testing.assert_allclose(body.hand_pca.to_coefficients(full.numpy(), "left"), coefficients.numpy(), atol=1e-9)


def test_default_source_is_the_environment_then_the_open_body(tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert default_source() == "open"
    cache = shared_cache(tmp_path_factory)
    monkeypatch.setenv("DR2_CACHE_DIR", str(cache))
    assert load_body_model().kind == "open"
    open_file = load_body_model().model_file
    monkeypatch.setenv(MODEL_ENV, str(open_file))  # the open body's file passed as a path is still "open"
    body = load_body_model()
    assert body.kind == "open" and body.source == str(open_file) and body.hand_pca is None
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "missing.npz"))
    with pytest.raises(Dr2Error, match="does not exist"):
        load_body_model()


def test_info_line_names_the_default_model_without_building_it(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setenv("DR2_CACHE_DIR", str(tmp_path))
    assert describe_default_model() == (
        f"open body (mannequin-x {mannequin_version()}), built on first use into {tmp_path}; "
        f"set ${MODEL_ENV} to use SMPL-X"
    )
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "SMPLX_NEUTRAL.npz"))
    assert describe_default_model().endswith("SMPLX_NEUTRAL.npz (missing!)")
