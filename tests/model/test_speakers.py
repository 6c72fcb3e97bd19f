"""The mixed-speakers warning of `dr2 train` (dr2model/speakers.py)."""

from __future__ import annotations

import numpy as np

from dr2model.speakers import mixing_warning, shape_distances


def test_one_body_shape_gives_no_warning_and_different_ones_do():
    same = {"a": np.zeros(10), "b": np.full(10, 0.1)}
    assert mixing_warning(same) is None
    mixed = {"a": np.zeros(10), "b": np.full(10, 0.1), "c": np.array([2.5, -1.0] + [0.0] * 8)}
    warning = mixing_warning(mixed)
    assert warning is not None and "c" in warning and "different people" in warning
    assert shape_distances(mixed)[("a", "b")] == np.linalg.norm(np.full(10, 0.1))
