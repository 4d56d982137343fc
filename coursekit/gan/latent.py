"""What G learned, part 1: walks and arithmetic in latent space.

Radford et al. 2016 (§6.3, Fig. 7) average the codes z of several samples that show an
attribute ("man with glasses") and find that code arithmetic carries over to images:
z̄(man with glasses) − z̄(man) + z̄(woman) gives women with glasses. On digits the attributes
are measurable: *ink* (stroke width) and *slant*.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..train import predict


def ink(x: torch.Tensor) -> torch.Tensor:
    """Mean pixel value per image (N,): thicker strokes, more ink."""
    return x.flatten(1).mean(1)


def slant(x: torch.Tensor) -> torch.Tensor:
    """Per image (N,): the regression slope of column on row over the ink, cov(col, row)/var(row).

    Positive when the top of the digit leans right (rows count downwards, so a stroke that
    moves right as it goes up has a negative row-column covariance; we flip the sign)."""
    n, _, h, w = x.shape
    rows = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1).expand(n, h, w)
    cols = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w).expand(n, h, w)
    m = x[:, 0] / x[:, 0].sum((1, 2), keepdim=True).clamp_min(1e-8)  # ink as a distribution
    r_mean, c_mean = (m * rows).sum((1, 2)), (m * cols).sum((1, 2))
    cov = (m * (rows - r_mean.view(-1, 1, 1)) * (cols - c_mean.view(-1, 1, 1))).sum((1, 2))
    var = (m * (rows - r_mean.view(-1, 1, 1)) ** 2).sum((1, 2))
    return -cov / var.clamp_min(1e-8)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """Codes on the straight line from z0 to z1 (both (latent_dim,)), shape (steps, latent_dim)."""
    t = torch.linspace(0, 1, steps, device=z0.device).view(-1, 1)
    return (1 - t) * z0 + t * z1


@torch.no_grad()
def attribute_direction(G: nn.Module, attribute: Callable[[torch.Tensor], torch.Tensor],
                        n: int = 2000, share: float = 0.2, seed: int = 0,
                        labels_of: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """z̄(top ``share`` of samples by ``attribute``) − z̄(bottom ``share``): a latent direction
    along which the attribute grows (the averaging trick of Radford et al. 2016, §6.3).

    An attribute can go with the class: a 0 has more ink than a 1, so the codes of the
    inkiest samples are mostly codes of 0s, and their direction turns 1s into 0s. With
    ``labels_of`` (images → class labels, e.g. a classifier's argmax) the difference is taken
    within each class and averaged over the classes, so that it no longer points toward
    another class."""
    if not 0 < share <= 0.5:
        raise ValueError(f"share must be in (0, 0.5], got {share}")
    z = G.sample_z(n, torch.Generator().manual_seed(seed))
    x = predict(G, z)
    a = attribute(x)
    labels = torch.zeros(n, dtype=torch.long) if labels_of is None else labels_of(x).cpu()
    directions = []
    for c in labels.unique():
        idx = (labels == c).nonzero().flatten()
        if len(idx) < 2:  # a class seen once has no top and bottom
            continue
        order = idx[a[idx].cpu().argsort()]
        m = max(1, int(share * len(idx)))
        directions.append(z[order[-m:]].mean(0) - z[order[:m]].mean(0))
    return torch.stack(directions).mean(0)
