"""Fixtures the fitting tests share: torch on one thread, the open body built once.

A module that fits runs all its tests on one thread with
`pytestmark = pytest.mark.usefixtures("one_thread")`.
"""

from __future__ import annotations

import pytest

from dr2prep.bodymodel.loading import load_body_model
from dr2prep.fitting.stage import cpu_threads
from tests.prep.bodymodel_models import shared_cache


@pytest.fixture(scope="module")
def one_thread():
    """As the stage does (stage.cpu_threads): torch's threads spin on a shared machine."""
    with cpu_threads(1):
        yield


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    """The open body model, from the session's shared cache."""
    return load_body_model("open", cache=shared_cache(tmp_path_factory))
