import gzip

import pytest
import torch

from coursekit.data import mnist

# Official MNIST class counts (LeCun, Cortes & Burges; also torchvision's MNIST), digits 0..9.
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
OFFICIAL_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_test_split_has_official_counts():
    ds = mnist("test")
    assert len(ds) == 10_000
    assert torch.bincount(ds.targets, minlength=10).tolist() == OFFICIAL_TEST_COUNTS


def test_train_split_has_official_counts():
    ds = mnist("train")
    assert len(ds) == 60_000
    assert torch.bincount(ds.targets, minlength=10).tolist() == OFFICIAL_TRAIN_COUNTS


def test_items_are_unit_range_images_with_int_labels():
    x, y = mnist("test")[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0
    assert isinstance(y, int) and y == 7  # the first test digit is a 7
    xb, yb = mnist("test").tensors(16)
    assert xb.shape == (16, 1, 28, 28) and yb.dtype == torch.int64
    assert torch.equal(xb[0], x)


def test_pixel_statistics_match_the_normalisation_constants():
    from coursekit.models.classifiers import MNIST_MEAN, MNIST_STD
    pixels = mnist("train").images.float().div(255)
    assert pixels.mean().item() == pytest.approx(MNIST_MEAN, abs=1e-4)
    assert pixels.std().item() == pytest.approx(MNIST_STD, abs=1e-4)


@pytest.mark.parametrize("split", ["validation", "TEST", None])
def test_unknown_split_is_an_error(split):
    with pytest.raises(ValueError, match="split must be one of"):
        mnist(split)


def test_bad_n_is_an_error():
    with pytest.raises(ValueError, match="n must be"):
        mnist("test").tensors(0)
    with pytest.raises(ValueError, match="n must be"):
        mnist("test").tensors(10_001)


def test_tampered_file_fails_loudly(data_copy):
    path = data_copy / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # relabel the last digit
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ValueError, match="sha256"):
        mnist("test")


def test_missing_file_fails_loudly(data_copy):
    (data_copy / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        mnist("test")
