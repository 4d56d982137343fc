"""Improved precision and recall: how much of each distribution the other one covers.

Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
Models", eqs. 1–3. Each real sample φ_r carries a ball whose radius is the distance to its
k-th nearest other real sample; the union of balls estimates the real manifold.

    precision = share of fake samples inside some real ball   (quality)
    recall    = share of real samples inside some fake ball   (coverage; fake balls likewise)
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from ._checks import check_features, check_positive_int, check_same_dim

_BLOCK = 1000  # rows of the distance matrix computed at once: (1000, N) float64 per block


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


def knn_radii(f: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of ``f`` to its k-th nearest other row (the ball radius)."""
    # The (k+1)-th smallest distance counts the zero distance of a sample to itself.
    return torch.cat([torch.cdist(block, f).kthvalue(k + 1, dim=1).values
                      for block in f.split(_BLOCK)])


def coverage(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """Share of ``queries`` within distance ``radii[j]`` of some ``centres[j]``."""
    inside = torch.cat([(torch.cdist(block, centres) <= radii).any(dim=1)
                        for block in queries.split(_BLOCK)])
    return inside.double().mean().item()


def precision_recall(features_real, features_fake, k: int = 3) -> PrecisionRecall:
    """(precision, recall) of ``features_fake`` with respect to ``features_real``, k-NN balls."""
    real = check_features(features_real, "features_real")
    fake = check_features(features_fake, "features_fake")
    check_same_dim(real, fake, "features_real", "features_fake")
    k = check_positive_int(k, "k")
    if k >= min(len(real), len(fake)):
        raise ValueError(f"k ({k}) must be smaller than the number of samples "
                         f"(real: {len(real)}, fake: {len(fake)})")
    fake = fake.to(real.device)
    precision = coverage(fake, real, knn_radii(real, k))
    recall = coverage(real, fake, knn_radii(fake, k))
    return PrecisionRecall(precision, recall)
