"""Plots used across the notebooks: image grids with captions."""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import torch


def image_grid(x: torch.Tensor, titles: Sequence[str] | None = None, ncols: int = 8,
               title: str | None = None, size: float = 1.3, cmap: str = "gray"):
    """Show images (N, C, H, W) in [0, 1] in a grid, each with an optional caption.

    Returns the matplotlib figure (so a notebook can save or further annotate it).
    """
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
    if titles is not None and len(titles) != len(x):
        raise ValueError(f"need one title per image ({len(x)}), got {len(titles)}")
    n = len(x)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = x[i].detach().float().cpu().clamp(0, 1)
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap=cmap, vmin=0, vmax=1)
        else:
            ax.imshow(img.permute(1, 2, 0))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
