"""Plots used across the notebooks: image grids with captions, and perturbations on a colour scale.

* :func:`image_grid`: images (N, C, H, W) in [0, 1] in rows, each with an optional caption;
  every row keeps room for its captions, so a caption never runs into the row above.
* :func:`show_perturbation`: one perturbation δ on a diverging colour scale centred on 0, with
  a colour bar in pixel units (grey levels hide the sign and the scale).
* :func:`attack_grid`: clean images, their perturbations (one shared colour bar) and the
  adversarial images, in three labelled rows.
"""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import torch

CAPTION_LINE_INCHES = 0.2    # height kept above an image for each line of its caption
SUPTITLE_INCHES = 0.45       # height kept for the figure's title


def _check_images(x) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (N, C, H, W), got {shape}")


def _caption_lines(titles) -> int:
    return max((str(t).count("\n") + 1 for t in titles if str(t)), default=0) if titles else 0


def image_grid(x: torch.Tensor, titles: Sequence[str] | None = None, ncols: int = 8,
               title: str | None = None, size: float = 1.3, cmap: str = "gray",
               row_labels: Sequence[str] | None = None):
    """Show images (N, C, H, W) in [0, 1] in a grid, each with an optional caption.

    ``row_labels`` (one per row) are written left of each row. Each row's height includes
    room for its captions (:data:`CAPTION_LINE_INCHES` per line), and the figure uses
    matplotlib's constrained layout, so captions never overlap the row above.
    Returns the matplotlib figure (so a notebook can save or further annotate it).
    """
    _check_images(x)
    n = len(x)
    if n == 0:
        raise ValueError("x must hold at least one image, got 0")
    if titles is not None and len(titles) != n:
        raise ValueError(f"need one title per image ({n}), got {len(titles)}")
    if not (isinstance(ncols, int) and ncols >= 1):
        raise ValueError(f"ncols must be an int >= 1, got {ncols!r}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"need one row label per row ({nrows}), got {len(row_labels)}")
    caption = _caption_lines(titles) * CAPTION_LINE_INCHES * (size / 1.3) ** 0.5
    label_width = 0.9 if row_labels is not None else 0.0
    fig = plt.figure(figsize=(size * ncols + label_width,
                              nrows * (size + caption) + (SUPTITLE_INCHES if title else 0.05)),
                     layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fontsize = 8 if size >= 1.1 else 7
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i >= n:
            ax.set_visible(False)
            continue
        img = x[i].detach().float().cpu().clamp(0, 1)
        if img.shape[0] == 1:
            ax.imshow(img[0].numpy(), cmap=cmap, vmin=0, vmax=1)
        else:
            ax.imshow(img.permute(1, 2, 0).numpy())
        if titles is not None and str(titles[i]):
            ax.set_title(titles[i], fontsize=fontsize, pad=2)
    if row_labels is not None:
        for ax, label in zip(axes[:, 0], row_labels):
            ax.set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def show_perturbation(delta: torch.Tensor, title: str | None = None, ax=None, limit: float | None = None,
                      label: str = "pixel change δ"):
    """Draw one perturbation δ (C×H×W or H×W, averaged over channels) on a diverging scale
    from −limit (blue) to +limit (red), 0 white, with a colour bar. ``limit`` defaults to
    max |δ|. Returns the image (``AxesImage``), so callers can add the colour bar elsewhere."""
    if not isinstance(delta, torch.Tensor) or delta.ndim not in (2, 3):
        raise ValueError(f"delta must be a tensor of shape (C, H, W) or (H, W), got "
                         f"{tuple(delta.shape) if isinstance(delta, torch.Tensor) else type(delta).__name__}")
    img = delta.detach().float().cpu()
    img = img.mean(0) if img.ndim == 3 else img
    limit = float(img.abs().max().clamp_min(1e-8)) if limit is None else float(limit)
    if not limit > 0:
        raise ValueError(f"limit must be > 0, got {limit}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 2.6), layout="constrained")
    im = ax.imshow(img.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, shrink=0.85, label=label)
    return im


def attack_grid(x: torch.Tensor, x_adv: torch.Tensor, captions: Sequence[str] | None = None,
                captions_adv: Sequence[str] | None = None, title: str | None = None,
                size: float = 1.3):
    """Three rows: the images x, their perturbations x_adv − x on one diverging colour scale
    (one colour bar for the row, in pixel units, captioned with ‖δ‖₂ and ‖δ‖∞), and x_adv.
    ``captions``/``captions_adv`` (one per image) go above the clean and adversarial images.
    Returns the figure."""
    _check_images(x)
    if not isinstance(x_adv, torch.Tensor) or x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have the shape of x {tuple(x.shape)}, got "
                         f"{tuple(x_adv.shape) if isinstance(x_adv, torch.Tensor) else type(x_adv).__name__}")
    n = len(x)
    for name, c in (("captions", captions), ("captions_adv", captions_adv)):
        if c is not None and len(c) != n:
            raise ValueError(f"need one entry of {name} per image ({n}), got {len(c)}")
    delta = (x_adv - x).detach().float().cpu()
    limit = float(delta.abs().max().clamp_min(1e-8))
    captions_inches = 4 * CAPTION_LINE_INCHES          # one line above each image row, two above δ
    fig = plt.figure(figsize=(size * n + 1.6, 3 * size + captions_inches + (SUPTITLE_INCHES if title else 0.05)),
                     layout="constrained")
    axes = fig.subplots(3, n, squeeze=False)
    norms = [f"‖δ‖₂={d.norm():.2f}\n‖δ‖∞={d.abs().max():.2f}" for d in delta]
    for j in range(n):
        for row, (img, text) in enumerate(((x[j], captions), (None, norms), (x_adv[j], captions_adv))):
            ax = axes[row, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if img is None:
                im = ax.imshow(delta[j].mean(0).numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
            else:
                pic = img.detach().float().cpu().clamp(0, 1)
                ax.imshow((pic[0] if pic.shape[0] == 1 else pic.permute(1, 2, 0)).numpy(), cmap="gray", vmin=0, vmax=1)
            if text is not None:
                ax.set_title(text[j], fontsize=7, pad=2)
    for ax, label in zip(axes[:, 0], ("image", "δ = x_adv − x", "x_adv")):
        ax.set_ylabel(label, fontsize=9)
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.9, label="pixel change")
    if title:
        fig.suptitle(title)
    return fig
