import random

import numpy as np
import pytest
import torch

import coursekit as ck


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("0", False), ("", False)])
def test_budget_follows_quick_mode(monkeypatch, value, quick):
    monkeypatch.setenv("COURSEKIT_QUICK", value)
    assert ck.is_quick() is quick
    assert ck.budget(full=20, quick=1) == (1 if quick else 20)


def test_unset_quick_mode_means_full(monkeypatch):
    monkeypatch.delenv("COURSEKIT_QUICK", raising=False)
    assert ck.budget(full=20, quick=1) == 20


def test_bad_quick_value_is_an_error(monkeypatch):
    monkeypatch.setenv("COURSEKIT_QUICK", "maybe")
    with pytest.raises(ValueError, match="COURSEKIT_QUICK"):
        ck.is_quick()


def test_seed_all_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()
    ck.seed_all(123)
    first = draw()
    ck.seed_all(123)
    assert draw() == first
    ck.seed_all(124)
    assert draw() != first


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_seed_all_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        ck.seed_all(seed)


def test_device_choice(monkeypatch):
    monkeypatch.delenv("COURSEKIT_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert ck.get_device().type == expected
    assert ck.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("COURSEKIT_DEVICE", "cpu")
    assert ck.get_device() == torch.device("cpu")


def test_bad_device_names_are_errors():
    with pytest.raises(ValueError, match="device"):
        ck.get_device("tpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            ck.get_device("cuda")


def test_paths_do_not_depend_on_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert (ck.data_dir() / "mnist").is_dir()
    assert (ck.pretrained_dir() / "manifest.json").is_file()


def test_missing_data_folder_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="COURSEKIT_DATA"):
        ck.data_dir()
