"""Shared fixtures: the shipped test split, and a writable copy of data/ for tampering tests."""
from __future__ import annotations

import shutil

import pytest

import coursekit as ck
from coursekit.data import mnist
from coursekit.data.mnist import _load
from coursekit.models import load_pretrained


@pytest.fixture(scope="module")
def cnn():
    """The shipped "mnist-cnn", loaded afresh for each test module (so no module sees another's)."""
    return load_pretrained("mnist-cnn")


@pytest.fixture
def one_thread():
    """Run a test on one thread: the defense tests train small models, and on a shared 2-core
    machine several threads per process only fight each other. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    with ck.threads(1):
        yield


@pytest.fixture(scope="session")
def test_set():
    return mnist("test").tensors()


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of data/ that a test may damage; COURSEKIT_DATA points at it for that test."""
    dst = tmp_path / "data"
    shutil.copytree(ck.data_dir(), dst)
    monkeypatch.setenv("COURSEKIT_DATA", str(dst))
    _load.cache_clear()
    yield dst
    _load.cache_clear()
