"""Data for image-to-image translation: paired, unpaired, and made-for-free pairs.

* :func:`edges_and_digits`: paired data for pix2pix, each MNIST digit with its edge map
  (Sobel gradient magnitude, thresholded), the small stand-in for edges → photo.
* :func:`half_and_digits`: each digit with its lower half hidden, paired with the whole digit:
  a task where the input does not determine the output.
* :func:`low_and_high`: (downscaled, full) pairs for super-resolution.
* :class:`UnalignedFolders`: two folders of unpaired images (``trainA/``, ``trainB/``, and
  optionally ``testA/``, ``testB/``), the layout of the CycleGAN datasets (horse2zebra,
  apple2orange, ...) that a user downloads from the authors' page.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .mnist import mnist

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_edges(x: torch.Tensor, threshold: float = 2.0) -> torch.Tensor:
    """Edge maps of images (N, 1, H, W) in [0, 1]: 1 where the Sobel gradient magnitude
    √(g_x² + g_y²) exceeds ``threshold``, else 0. (A unit step gives a magnitude of up to 4.)"""
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"x must have shape (N, 1, H, W), got {tuple(x.shape)}")
    kx = SOBEL_X.to(x).view(1, 1, 3, 3)
    gx = F.conv2d(x, kx, padding=1)
    gy = F.conv2d(x, kx.transpose(2, 3), padding=1)
    return ((gx.square() + gy.square()).sqrt() > threshold).to(x.dtype)


def edges_and_digits(split: str = "train", n: int | None = None, threshold: float = 2.0):
    """(edges, digits, labels) for the first ``n`` MNIST digits of ``split``: two (N, 1, 28, 28)
    tensors in {0, 1} and [0, 1], and the labels (N,)."""
    x, y = mnist(split).tensors(n)
    return sobel_edges(x, threshold), x, y


def half_and_digits(split: str = "train", n: int | None = None, rows: int = 14):
    """(tops, digits, labels) for the first ``n`` MNIST digits of ``split``: each digit with every
    row from ``rows`` down set to 0 (the lower half hidden, by default), the digit, the label.
    Paired data where the input leaves the output open: the top of a 7 may end as a 7 or a 9,
    so the average of the plausible completions is no digit at all."""
    if not (isinstance(rows, int) and 0 < rows < 28):
        raise ValueError(f"rows must be an int in 1..27, got {rows!r}")
    x, y = mnist(split).tensors(n)
    tops = x.clone()
    tops[:, :, rows:] = 0
    return tops, x, y


def low_and_high(x: torch.Tensor, factor: int = 4):
    """(x_low, x) with x_low the ``factor``× box-downscaled copy of images ``x`` (N, C, H, W)."""
    from ..gan.superres import downscale

    return downscale(x, factor), x


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


class UnalignedFolders(Dataset):
    """Unpaired images from ``root/<split>A`` and ``root/<split>B``: item i is (a, b) with a the
    i-th image of A and b a random image of B (a fresh draw each time: the two domains are not
    aligned), both (3, crop_size, crop_size) floats in [0, 1].

    Preprocessing is the CycleGAN recipe ("resize_and_crop", Zhu et al. 2017, §7.1): resize
    to ``load_size`` × ``load_size``, take a random ``crop_size`` crop, flip left–right with
    probability ½; ``train=False`` resizes straight to ``crop_size`` and neither crops nor
    flips. The length is that of the larger folder; A wraps around.
    """

    def __init__(self, root, split: str = "train", load_size: int = 286, crop_size: int = 256,
                 train: bool = True, seed: int | None = None):
        self.root = Path(root).expanduser()
        if crop_size > load_size:
            raise ValueError(f"crop_size must be <= load_size, got {crop_size} > {load_size}")
        self.files = {}
        for domain in ("A", "B"):
            folder = self.root / f"{split}{domain}"
            if not folder.is_dir():
                found = sorted(p.name for p in self.root.iterdir()) if self.root.is_dir() else []
                raise FileNotFoundError(f"{folder} not found: an unaligned dataset needs folders "
                                        f"{split}A/ and {split}B/ under {self.root} (found {found})")
            self.files[domain] = _image_files(folder)
            if not self.files[domain]:
                raise FileNotFoundError(f"{folder} holds no images ({sorted(IMAGE_SUFFIXES)})")
        self.load_size, self.crop_size, self.train = load_size, crop_size, train
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __len__(self) -> int:
        return max(len(self.files["A"]), len(self.files["B"]))

    def _load(self, path: Path) -> torch.Tensor:
        from PIL import Image
        import numpy as np

        size = self.load_size if self.train else self.crop_size
        with Image.open(path) as image:
            image = image.convert("RGB").resize((size, size), Image.BICUBIC)
            x = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255  # (3, H, W)
        if self.train:
            top, left = (int(v) for v in torch.randint(size - self.crop_size + 1, (2,), generator=self.generator))
            x = x[:, top:top + self.crop_size, left:left + self.crop_size]
            if torch.rand(1, generator=self.generator).item() < 0.5:
                x = x.flip(2)
        return x

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.files["A"][i % len(self.files["A"])]
        b = self.files["B"][int(torch.randint(len(self.files["B"]), (1,), generator=self.generator))]
        return self._load(a), self._load(b)

    def __repr__(self) -> str:
        return (f"UnalignedFolders({str(self.root)!r}, A: {len(self.files['A'])} images, "
                f"B: {len(self.files['B'])} images)")
