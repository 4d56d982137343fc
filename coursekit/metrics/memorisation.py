"""Catching copies: each generated image beside its nearest training images.

Karras et al. 2018 ("Progressive Growing of GANs", Fig. 10) show generated faces next to
their nearest neighbours in the training set, to argue that the generator does not simply
memorise. A generator that copies can still score a perfect FID; only this kind of check (or
a privacy test) reveals it. Distances are Euclidean, in pixel space or in a feature space.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ..attacks._common import check_images
from ..train import EVAL_BATCH
from ._checks import check_positive_int
from .features import FEATURE_NETWORKS, extract_features


def _embed(images: torch.Tensor, name: str, features: str, batch_size: int,
           progress: bool) -> torch.Tensor:
    check_images(images, name)
    if features == "pixels":
        return images.flatten(1).double()
    return extract_features(images, features, batch_size, progress).features.double()


@torch.no_grad()
def nearest_neighbours(fakes: torch.Tensor, reals: torch.Tensor, features: str = "mnist",
                       k: int = 3, batch_size: int = EVAL_BATCH, progress: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances, indices), each (N_fake, k): the k nearest ``reals`` of every fake image.

    ``features`` is "pixels" or a feature network name ("mnist", "inception"); a distance of
    (almost) 0 means the fake is a copy of ``reals[index]``.
    """
    if features not in ("pixels", *FEATURE_NETWORKS):
        raise ValueError(f"features must be 'pixels' or one of {FEATURE_NETWORKS}, got {features!r}")
    k = check_positive_int(k, "k")
    if k > len(reals):
        raise ValueError(f"k ({k}) must not exceed the number of real images ({len(reals)})")
    f_fake = _embed(fakes, "fakes", features, batch_size, progress)
    f_real = _embed(reals, "reals", features, batch_size, progress).to(f_fake.device)
    found = [torch.cdist(block, f_real).topk(k, dim=1, largest=False) for block in f_fake.split(1000)]
    return torch.cat([d.values for d in found]), torch.cat([d.indices for d in found])


def show_nearest_neighbours(fakes: torch.Tensor, reals: torch.Tensor, indices: torch.Tensor,
                            distances: torch.Tensor | None = None, rows: int = 6,
                            title: str = "generated image (left) and its nearest training images"):
    """A grid: each row is one fake (first column) and its nearest reals (Karras et al., Fig. 10)."""
    rows = min(check_positive_int(rows, "rows"), len(fakes))
    k = indices.shape[1]
    fig, axes = plt.subplots(rows, k + 1, figsize=(1.4 * (k + 1), 1.4 * rows + 0.5), squeeze=False)
    for r in range(rows):
        images = [fakes[r]] + [reals[j] for j in indices[r].tolist()]
        for c, img in enumerate(images):
            ax = axes[r, c]
            ax.imshow(img.detach().cpu().float().squeeze(0), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"fake {r}", fontsize=8)
            elif distances is not None:
                ax.set_xlabel(f"d = {distances[r, c - 1].item():.2f}", fontsize=8)
            if r == 0:
                ax.set_title("generated" if c == 0 else f"neighbour {c}", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
