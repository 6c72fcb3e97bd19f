"""Fixtures of the synthesis, preview and evaluation tests: the tiny trained model, quiet single-threaded torch."""

from __future__ import annotations

import pytest

from dr2common.progress import set_quiet
from tests.model.tiny_model import single_thread, tiny_model


@pytest.fixture
def quiet_one_thread():
    """No progress output, and torch on one thread (the small test batches lose much on a shared machine)."""
    set_quiet(True)
    with single_thread():
        yield
    set_quiet(False)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A model trained once per session on two generated speech clips (tests/model/tiny_model.py)."""
    return tiny_model(tmp_path_factory.getbasetemp() / "tiny_model")
