"""The shipped "mnist-dcgan": what its manifest claims, recomputed."""
import pytest
import torch

from coursekit.data import mnist
from coursekit.metrics import fid
from coursekit.models import load_pretrained
from coursekit.models.pretrained import load_extra, read_manifest
from coursekit.train import predict


@pytest.fixture(scope="module")
def G():
    return load_pretrained("mnist-dcgan")


@pytest.fixture(scope="module")
def samples(G):
    # the same 10,000 samples the pretraining command measured (seeds 0..9, 1,000 each)
    return torch.cat([G.sample(1000, seed=s) for s in range(10)])


def test_generator_interface(G):
    assert G.latent_dim == 64 and not G.training
    x = G.sample(8, seed=3)
    assert x.shape == (8, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, G.sample(8, seed=3))


def test_every_digit_is_drawn(samples):
    # issue 7's bar: each digit is at least 5% of 10,000 samples, labelled by "mnist-cnn"
    labels = predict(load_pretrained("mnist-cnn"), samples).argmax(1)
    shares = torch.bincount(labels, minlength=10).float() / len(labels)
    assert shares.min() >= 0.05, shares
    recorded = torch.tensor(read_manifest()["mnist-dcgan"]["metrics"]["digit_shares"])
    assert torch.allclose(shares, recorded, atol=1e-3)


def test_recorded_fid_is_reproduced(samples):
    recorded = read_manifest()["mnist-dcgan"]["metrics"]["fid_mnist_features"]
    got = fid(samples, mnist("test").tensors()[0], progress=False)
    assert got == pytest.approx(recorded, rel=1e-3)
    # and it is far from a broken generator: uniform noise images score orders of magnitude worse
    noise = torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert fid(noise, mnist("test").tensors(2000)[0], progress=False) > 20 * recorded


def test_training_history_is_shipped_and_checked():
    history = load_extra("mnist-dcgan", "mnist-dcgan-history.pt")
    curve = history["fid_curve"]
    assert curve == read_manifest()["mnist-dcgan"]["metrics"]["fid_curve"]
    assert curve[-1][1] < curve[0][1] / 2  # FID kept falling over training
    assert all(v.dtype == torch.uint8 and v.shape[1:] == (1, 28, 28) for v in history["samples"].values())
    with pytest.raises(ValueError, match="not a recorded file"):
        load_extra("mnist-dcgan", "something-else.pt")
