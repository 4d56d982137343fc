"""Data for notebook 06: MNIST-M, the unaligned two-folder dataset, edge pairs, SR pairs."""
import numpy as np
import pytest
import torch
from PIL import Image

from coursekit.data import mnist, mnist_m
from coursekit.data.mnist_m import _load, background_colour, blend, build, photos
from coursekit.data.translation import (UnalignedFolders, edges_and_digits, half_and_digits, low_and_high,
                                        sobel_edges)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty MNIST-M cache folder, and no in-memory copy."""
    monkeypatch.setenv("COURSEKIT_CACHE", str(tmp_path / "cache"))
    _load.cache_clear()
    yield tmp_path / "cache" / "mnist_m"
    _load.cache_clear()


def test_mnist_m_has_the_form_of_mnist():
    ds = mnist_m("test")
    x, y = ds[0]
    assert x.shape == (3, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert isinstance(y, int)
    assert len(ds) == 10_000 and ds.images.dtype == torch.uint8
    assert torch.equal(ds.targets, mnist("test").targets)  # digit i of MNIST-M is digit i of MNIST
    xb, yb = ds.tensors(5)
    assert xb.shape == (5, 3, 28, 28) and torch.equal(xb[0], x) and yb[0].item() == y


def test_mnist_m_is_the_difference_blend_of_ganin_and_lempitsky():
    # O = |patch − digit| per channel (Ganin & Lempitsky 2015, §4.1), on hand-made values
    digits = np.array([[[0, 255], [100, 30]]], dtype=np.uint8)               # (1, 2, 2)
    patches = np.array([[[[10, 10], [200, 0]]] * 3], dtype=np.uint8)         # (1, 3, 2, 2)
    expected = np.array([[[10, 245], [100, 30]]] * 3, dtype=np.uint8)[None]
    assert np.array_equal(blend(digits, patches), expected)
    # and on the real thing: where the digit has no ink, the image is a patch of one of the photos
    ds = mnist_m("test")
    blank = mnist("test").images[0] == 0
    assert blank.float().mean() > 0.5
    image = ds.images[0].permute(1, 2, 0).numpy()  # (28, 28, 3); MNIST's corners never have ink
    found = False
    for photo in photos():  # candidate crops: the photo's pixel equals the image's top-left pixel
        for top, left in zip(*np.nonzero((photo[:-27, :-27] == image[0, 0]).all(-1))):
            crop = photo[top:top + 28, left:left + 28]
            found = found or bool((crop[blank.numpy()] == image[blank.numpy()]).all())
    assert found, "the background of MNIST-M test image 0 is not a crop of any shipped photo"


def test_mnist_m_is_deterministic_and_cached(fresh_cache):
    first = mnist_m("test").images.clone()
    files = list(fresh_cache.glob("test-seed0-*.npy"))
    assert len(files) == 1
    _load.cache_clear()
    assert torch.equal(mnist_m("test").images, first)              # read back from the cache
    assert np.array_equal(build("test", seed=0), first.numpy())  # and the same as a rebuild
    other = mnist_m("test", seed=1).images
    assert not torch.equal(other, first)
    assert (other.float() - first.float()).abs().mean() > 10       # other patches, not a shift
    # a damaged cache file is rebuilt, not served
    np.save(files[0], np.zeros((3, 3), dtype=np.uint8))
    _load.cache_clear()
    assert torch.equal(mnist_m("test").images, first)


def test_mnist_m_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split must be one of"):
        mnist_m("valid")
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        mnist_m("test", seed=-1)
    with pytest.raises(ValueError, match="n must be an int"):
        mnist_m("test").tensors(0)


def _write_folder(folder, colours, size=12):
    folder.mkdir(parents=True)
    for i, colour in enumerate(colours):
        Image.new("RGB", (size, size), colour).save(folder / f"{i:03d}.png")


def test_unaligned_folders_on_a_tiny_generated_dataset(tmp_path):
    reds = [(200 + i, 0, 0) for i in range(3)]
    blues = [(0, 0, 100 + 10 * i) for i in range(5)]
    _write_folder(tmp_path / "trainA", reds)
    _write_folder(tmp_path / "trainB", blues)
    (tmp_path / "trainB" / "notes.txt").write_text("not an image")
    ds = UnalignedFolders(tmp_path, load_size=10, crop_size=8, seed=0)
    assert len(ds) == 5  # the larger folder
    seen_b = set()
    for i in range(len(ds)):
        a, b = ds[i]
        assert a.shape == b.shape == (3, 8, 8) and 0 <= a.min() and b.max() <= 1
        assert round(a[0, 0, 0].item() * 255) == reds[i % 3][0] and a[2].max() == 0  # A in order, wrapping
        assert b[0].max() == 0 and b[1].max() == 0                                  # B from B
        seen_b.add(round(b[2, 0, 0].item() * 255))
    assert seen_b <= {c[2] for c in blues}
    # B is drawn at random, not aligned with A: over many draws every B image turns up
    draws = {round(ds[0][1][2, 0, 0].item() * 255) for _ in range(60)}
    assert draws == {c[2] for c in blues}
    # test split, no augmentation: resized straight to crop_size
    _write_folder(tmp_path / "testA", reds[:1], size=16)
    _write_folder(tmp_path / "testB", blues[:2], size=16)
    test = UnalignedFolders(tmp_path, split="test", load_size=10, crop_size=8, train=False)
    assert len(test) == 2 and test[0][0].shape == (3, 8, 8)


def test_unaligned_folders_explain_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="trainA"):
        UnalignedFolders(tmp_path)
    (tmp_path / "trainA").mkdir()
    (tmp_path / "trainB").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no images"):
        UnalignedFolders(tmp_path)
    with pytest.raises(ValueError, match="crop_size must be <= load_size"):
        UnalignedFolders(tmp_path, load_size=8, crop_size=16)


def test_sobel_edges_match_scipy():
    from scipy import ndimage

    x, _ = mnist("test").tensors(4)
    edges = sobel_edges(x, threshold=2.0)
    for img, e in zip(x[:, 0].double().numpy(), edges[:, 0].numpy()):
        magnitude = np.hypot(ndimage.sobel(img, axis=0, mode="constant"), ndimage.sobel(img, axis=1, mode="constant"))
        assert np.array_equal(e, (magnitude > 2.0).astype(np.float32))
    e, d, y = edges_and_digits("test", 8)
    assert e.shape == d.shape == (8, 1, 28, 28) and set(e.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(y, mnist("test").targets[:8])
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        sobel_edges(torch.rand(2, 3, 8, 8))


def test_low_and_high_is_a_box_downscale_like_skimage():
    from skimage.transform import downscale_local_mean

    x, _ = mnist("test").tensors(3)
    low, high = low_and_high(x, factor=4)
    assert low.shape == (3, 1, 7, 7) and high is x
    expected = downscale_local_mean(x.numpy(), (1, 1, 4, 4))
    assert np.allclose(low.numpy(), expected, atol=1e-6)


def test_half_and_digits_hides_the_lower_rows_only():
    tops, x, y = half_and_digits("test", 6)
    full, labels = mnist("test").tensors(6)
    assert torch.equal(x, full) and torch.equal(y, labels)
    assert torch.equal(tops[:, :, :14], full[:, :, :14]) and tops[:, :, 14:].abs().sum() == 0
    assert full[:, :, 14:].sum() > 0  # there was something to hide
    tops20, _, _ = half_and_digits("test", 2, rows=20)
    assert torch.equal(tops20[:, :, :20], full[:2, :, :20]) and tops20[:, :, 20:].sum() == 0
    with pytest.raises(ValueError, match="rows must be an int in 1..27"):
        half_and_digits("test", 2, rows=28)


def test_background_colour_averages_the_pixels_without_ink():
    digits = torch.zeros(3, 1, 4, 4)
    digits[:, :, 1:3, 1:3] = 1.0                                  # a 2×2 "stroke" in the middle
    colours = torch.tensor([[0.2, 0.4, 0.6], [1.0, 0.0, 0.5], [0.3, 0.3, 0.3]])
    images = colours.view(3, 3, 1, 1).expand(3, 3, 4, 4).clone()
    images[:, :, 1:3, 1:3] = 0.9                                  # whatever is drawn on the stroke is ignored
    assert torch.allclose(background_colour(images, digits), colours)
    with pytest.raises(ValueError, match="must match"):
        background_colour(images, digits[:2])
    with pytest.raises(ValueError, match="needs some background"):
        background_colour(images, torch.ones(3, 1, 4, 4))
