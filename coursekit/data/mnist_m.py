"""MNIST-M, built offline: MNIST digits blended onto random patches of colour photos.

Ganin & Lempitsky 2015, "Unsupervised Domain Adaptation by Backpropagation", §4.1: each
MNIST-M image is an MNIST digit I² blended over a random patch I¹ of a colour photo by the
absolute difference, per pixel (i, j) and channel k,

    O_ijk = |I¹_ijk − I²_ij|

so the digit shows as the photo's inverse where the stroke is and the photo elsewhere. The
original used photos of BSDS500; offline we use the colour photos that scikit-image and
scikit-learn ship (:data:`PHOTOS`). Digit ``i`` of ``mnist_m(split)`` is digit ``i`` of
``mnist(split)`` blended onto its own patch, so the labels are the MNIST labels; the patches
come from a NumPy generator seeded with (``seed``, split), so the set is the same on every
machine. Building the 70,000 images takes about a second; they are cached as .npy files in
``.coursekit_cache/mnist_m/`` (``$COURSEKIT_CACHE`` overrides), keyed by the seed and a hash
of the photos and digits, so a changed photo set never serves stale images.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import ROOT
from .mnist import CLASSES, SPLITS, mnist

# (library, name): scikit-image's colour photos (offline, in its wheel) and scikit-learn's two.
PHOTOS = (("skimage", "astronaut"), ("skimage", "chelsea"), ("skimage", "coffee"),
          ("skimage", "rocket"), ("skimage", "hubble_deep_field"),
          ("skimage", "immunohistochemistry"), ("sklearn", "china.jpg"), ("sklearn", "flower.jpg"))
SIZE = 28
_VERSION = 1  # bump when the recipe below changes, so old caches are not used


def cache_dir() -> Path:
    """Where generated data are cached (``$COURSEKIT_CACHE``, default ``.coursekit_cache/``)."""
    return Path(os.environ.get("COURSEKIT_CACHE", ROOT / ".coursekit_cache")).expanduser()


@lru_cache(maxsize=1)
def photos() -> tuple[np.ndarray, ...]:
    """The background photos as (H, W, 3) uint8 arrays, in the order of :data:`PHOTOS`."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    sklearn_images = dict(zip((Path(f).name for f in load_sample_images().filenames),
                              load_sample_images().images))
    out = []
    for library, name in PHOTOS:
        image = getattr(skimage.data, name)() if library == "skimage" else sklearn_images[name]
        out.append(np.ascontiguousarray(image[..., :3], dtype=np.uint8))
    return tuple(out)


def blend(digits: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """O = |patch − digit| per channel: digits (N, H, W) uint8, patches (N, 3, H, W) uint8."""
    return np.abs(patches.astype(np.int16) - digits[:, None].astype(np.int16)).astype(np.uint8)


def random_patches(n: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """``n`` random size×size crops, each of a photo chosen uniformly: (n, 3, size, size) uint8."""
    images = photos()
    which = rng.integers(len(images), size=n)
    out = np.empty((n, 3, size, size), dtype=np.uint8)
    for p, image in enumerate(images):
        idx = np.flatnonzero(which == p)
        h, w, _ = image.shape
        top = rng.integers(h - size + 1, size=len(idx))
        left = rng.integers(w - size + 1, size=len(idx))
        windows = np.lib.stride_tricks.sliding_window_view(image, (size, size), axis=(0, 1))
        out[idx] = windows[top, left]  # (len(idx), 3, size, size)
    return out


def _fingerprint(digits: np.ndarray) -> str:
    h = hashlib.sha256(f"v{_VERSION}".encode())
    for image in photos():
        h.update(image.tobytes())
    h.update(digits.tobytes())
    return h.hexdigest()[:16]


def build(split: str, seed: int = 0) -> np.ndarray:
    """Generate MNIST-M ``split`` afresh: (N, 3, 28, 28) uint8 (no cache)."""
    digits = mnist(split).images.numpy()  # (N, 28, 28) uint8
    rng = np.random.default_rng([seed, sorted(SPLITS).index(split)])
    return blend(digits, random_patches(len(digits), rng))


def background_colour(images: torch.Tensor, digits: torch.Tensor, ink: float = 0.05) -> torch.Tensor:
    """The mean colour of each image's background, (N, C): the average over the pixels where
    the MNIST digit it shows (``digits``, (N, 1, H, W) in [0, 1]; for a translation G(x), its
    input x) has less than ``ink``. Real MNIST-M backgrounds are photo patches of every colour;
    a translator whose backgrounds all look alike shows it here as a small spread."""
    if images.ndim != 4 or digits.ndim != 4 or digits.shape[1] != 1 or images.shape[0] != digits.shape[0] \
            or images.shape[2:] != digits.shape[2:]:
        raise ValueError(f"images (N, C, H, W) and digits (N, 1, H, W) must match, got {tuple(images.shape)} "
                         f"and {tuple(digits.shape)}")
    background = (digits < ink).to(images.dtype)                      # (N, 1, H, W)
    if not bool((background.flatten(1).sum(1) > 0).all()):
        raise ValueError(f"every digit needs some background (pixels below ink={ink})")
    return (images * background).sum((2, 3)) / background.sum((2, 3))


@lru_cache(maxsize=4)
def _load(split: str, seed: int) -> torch.Tensor:
    digits = mnist(split).images.numpy()
    path = cache_dir() / "mnist_m" / f"{split}-seed{seed}-{_fingerprint(digits)}.npy"
    if path.is_file():
        images = np.load(path)
        if images.shape == (len(digits), 3, SIZE, SIZE) and images.dtype == np.uint8:
            return torch.from_numpy(images)
    images = build(split, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:  # write then rename, so a reader never sees half a file
        np.save(f, images)
    tmp.replace(path)
    return torch.from_numpy(images)


class MNISTM(Dataset):
    """MNIST-M as (3×28×28 float tensor in [0, 1], int label) pairs, like :class:`MNIST`.

    ``images`` (N×3×28×28 uint8) and ``targets`` (N int64, the MNIST labels) hold the split.
    """

    classes = CLASSES

    def __init__(self, split: str = "train", seed: int = 0):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.split, self.seed = split, seed
        self.images = _load(split, seed)
        self.targets = mnist(split).targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i].float().div_(255), int(self.targets[i])  # (3, 28, 28)

    def tensors(self, n: int | None = None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` images (all if None) as (x: N×3×28×28 float in [0, 1], y: N int64)."""
        if n is not None and not (isinstance(n, int) and 0 < n <= len(self)):
            raise ValueError(f"n must be an int in 1..{len(self)}, got {n!r}")
        return self.images[:n].float().div_(255).to(device), self.targets[:n].clone().to(device)

    def __repr__(self) -> str:
        return f"MNISTM(split={self.split!r}, seed={self.seed}, n={len(self)})"


def mnist_m(split: str = "train", seed: int = 0) -> MNISTM:
    """MNIST-M ``split`` ("train": 60,000, "test": 10,000), generated from ``seed`` and cached."""
    return MNISTM(split, seed)
