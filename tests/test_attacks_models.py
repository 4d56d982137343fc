"""The extra classifiers shipped for the transfer experiments of notebook 01."""
import pytest

from coursekit.config import pretrained_dir
from coursekit.models import load_pretrained
from coursekit.models.classifiers import MnistLeNet
from coursekit.models.pretrained import read_manifest
from coursekit.train import accuracy


def test_shipped_lenet_matches_its_recorded_accuracy(test_set):
    x, y = test_set
    model = load_pretrained("mnist-lenet")
    assert isinstance(model, MnistLeNet) and not model.training
    acc = accuracy(model, x, y)
    entry = read_manifest()["mnist-lenet"]
    assert acc == pytest.approx(entry["metrics"]["test_accuracy"], abs=1e-4)
    assert acc >= 0.985  # LeCun et al. 1998 report 99.05% for LeNet-5
    assert (pretrained_dir() / entry["file"]).stat().st_size < 2_000_000
    assert entry["command"] == "python -m coursekit.pretrain mnist-lenet"


def test_transfer_models_differ_in_architecture():
    kinds = {type(load_pretrained(n)).__name__ for n in ("mnist-cnn", "mnist-lenet", "mnist-mlp")}
    assert len(kinds) == 3
