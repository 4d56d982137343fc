"""Kernel Inception Distance: an unbiased MMD² between feature sets.

Bińkowski et al. 2018, "Demystifying MMD GANs", sec. 4 (KID) and eq. 3 (unbiased MMD²),
with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³:

    MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(a_i, a_j) + 1/(m(m−1)) Σ_{i≠j} k(b_i, b_j) − 2/m² Σ_{i,j} k(a_i, b_j)

Unlike FID it is unbiased, so it can be compared across sample sizes, and can be < 0.
"""
from __future__ import annotations

import numpy as np
import torch

from ._checks import check_features, check_positive_int, check_same_dim


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, coef0: float = 1.0):
    """k(x, y) = (xᵀy / d + coef0)^degree for every pair of rows: (m, d), (n, d) → (m, n)."""
    k = x @ y.T  # (m, n)
    return k.div_(x.shape[1]).add_(coef0).pow_(degree)  # in place: one (m, n) buffer


def mmd2_unbiased(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The unbiased MMD² of eq. 3 for two samples of equal size m."""
    m = len(a)
    k_aa, k_bb, k_ab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
    within = (k_aa.sum() - k_aa.diagonal().sum() + k_bb.sum() - k_bb.diagonal().sum()) / (m * (m - 1))
    return within - 2 * k_ab.sum() / (m * m)


def kid(features_a, features_b, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD² over ``subsets`` random subsets of ``subset_size``.

    Subset i takes ``rng.choice(N_a, subset_size, replace=False)`` rows of ``features_a``,
    then the same of ``features_b``, with ``rng = numpy.random.RandomState(seed)`` (the
    convention of Bińkowski et al.'s code and torch-fidelity). Float64 throughout.
    """
    a = check_features(features_a, "features_a")
    b = check_features(features_b, "features_b")
    check_same_dim(a, b, "features_a", "features_b")
    subsets = check_positive_int(subsets, "subsets")
    subset_size = check_positive_int(subset_size, "subset_size", minimum=2)
    if subset_size > min(len(a), len(b)):
        raise ValueError(f"subset_size ({subset_size}) must not exceed the number of samples "
                         f"(features_a: {len(a)}, features_b: {len(b)})")
    b = b.to(a.device)
    rng = np.random.RandomState(seed)
    mmds = []
    for _ in range(subsets):
        idx_a = torch.as_tensor(rng.choice(len(a), subset_size, replace=False), device=a.device)
        idx_b = torch.as_tensor(rng.choice(len(b), subset_size, replace=False), device=a.device)
        mmds.append(mmd2_unbiased(a[idx_a], b[idx_b]).item())
    return float(np.mean(mmds)), float(np.std(mmds))
