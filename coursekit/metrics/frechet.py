"""The Fréchet distance between two feature sets, each summarised by a Gaussian (FID).

Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", eq. 6 (the distance of Dowson & Landau 1982):

    d²((μ_a, Σ_a), (μ_b, Σ_b)) = ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½)

With Inception-v3 pool features this is the FID; with the course's MNIST classifier
(coursekit.metrics.features) it is the "MNIST FID", comparable only with itself.
FID∞ (Chong & Forsyth 2020) removes the bias that FID has at finite sample size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._checks import as_float64, check_features, check_positive_int, check_same_dim


def gaussian_statistics(features) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean μ (d,) and unbiased covariance Σ (d, d) of ``features`` (N, d), in float64.

    Needs N > d: with N ≤ d samples Σ has rank ≤ N − 1 < d, and the distance would mostly
    measure how few samples there were.
    """
    return _statistics(features, "features")


def _statistics(features, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    f = check_features(features, name)
    n, d = f.shape
    if n <= d:
        raise ValueError(f"{name}: need more samples than feature dimensions for a full-rank "
                         f"covariance, got N={n} samples of d={d} dimensions (use N > {d})")
    mu = f.mean(0)
    centred = f - mu
    sigma = centred.T @ centred / (n - 1)  # (d, d)
    return mu, sigma


def _trace_sqrt_product(sigma_a: torch.Tensor, sigma_b: torch.Tensor) -> torch.Tensor:
    """Tr((Σ_a Σ_b)^½), through symmetric eigendecompositions (no complex square roots).

    Σ_a Σ_b is similar to the symmetric PSD matrix Σ_a^½ Σ_b Σ_a^½, so both have the same
    eigenvalues λ_i ≥ 0 and the trace is Σ_i √λ_i. Round-off negatives are clamped to 0.
    """
    w, v = torch.linalg.eigh(sigma_a)
    root_a = (v * w.clamp(min=0).sqrt()) @ v.T  # Σ_a^½
    m = root_a @ sigma_b @ root_a
    return torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()


def _as_statistics(x, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f"{name} must be features (N, d) or a pair (mean, covariance), "
                             f"got a sequence of length {len(x)}")
        mu, sigma = as_float64(x[0], f"{name} mean"), as_float64(x[1], f"{name} covariance")
        if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
            raise ValueError(f"{name}: mean must have shape (d,) and covariance (d, d), got "
                             f"{tuple(mu.shape)} and {tuple(sigma.shape)}")
        if not torch.allclose(sigma, sigma.T, rtol=1e-5, atol=1e-8):
            raise ValueError(f"{name} covariance must be symmetric")
        lowest = torch.linalg.eigvalsh(sigma).min().item() if len(sigma) else 0.0
        if lowest < -1e-6 * max(1.0, sigma.diagonal().abs().max().item()):
            raise ValueError(f"{name} covariance must be positive semi-definite, got an "
                             f"eigenvalue of {lowest:.4g}")
        return mu, sigma
    return _statistics(x, name)


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between two feature sets (Heusel et al. 2017, eq. 6); see module doc.

    Each argument is either a feature matrix (N, d) (tensor or array, N > d) or a pair
    ``(mu, sigma)`` of precomputed statistics. Computed in float64 on the inputs' device.
    """
    mu_a, sigma_a = _as_statistics(features_a, "features_a")
    mu_b, sigma_b = _as_statistics(features_b, "features_b")
    check_same_dim(mu_a, mu_b, "features_a", "features_b")
    mu_b, sigma_b = mu_b.to(mu_a.device), sigma_b.to(mu_a.device)
    mean_term = (mu_a - mu_b).square().sum()
    cov_term = sigma_a.trace() + sigma_b.trace() - 2 * _trace_sqrt_product(sigma_a, sigma_b)
    return max(float(mean_term + cov_term), 0.0)  # ≥ 0 in exact arithmetic; clip round-off


@dataclass
class FIDInfinity:
    """FID extrapolated to infinitely many samples: FID_N ≈ value + slope / N."""
    value: float
    slope: float
    sizes: list[int]
    fids: list[float]


def fid_infinity(features_real, features_fake, sizes=None, num_points: int = 15,
                 seed: int = 0) -> FIDInfinity:
    """FID∞ (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and Where to
    Find Them", sec. 3).

    FID computed with N fake samples is biased upwards, and the bias is close to linear in
    1/N, with a slope that depends on the generator. So compute FID_N for
    ``num_points`` sizes N (default: evenly spaced from max(d + 1, N_fake / 5) to N_fake), fit
    FID_N = FID∞ + slope · (1/N) by least squares, and read off FID∞ at 1/N = 0. The real
    statistics use all of ``features_real``; fake subsets are drawn at random with ``seed``
    (the paper draws N from 5,000 to 50,000 Inception features, 15 points, quasi-randomly).
    """
    real = check_features(features_real, "features_real")
    fake = check_features(features_fake, "features_fake")
    check_same_dim(real, fake, "features_real", "features_fake")
    n, d = fake.shape
    if sizes is None:
        num_points = check_positive_int(num_points, "num_points", minimum=2)
        low = max(d + 1, n // 5)
        if low >= n:
            raise ValueError(f"features_fake: FID∞ needs more than {d + 1} samples to fit, got {n}")
        sizes = np.linspace(low, n, num_points).astype(int).tolist()
    sizes = [int(s) for s in sizes]
    if len(set(sizes)) < 2 or min(sizes) <= d or max(sizes) > n:
        raise ValueError(f"sizes must hold at least two different values in {d + 1}..{n}, got {sizes}")
    stats_real = gaussian_statistics(real)
    g = torch.Generator().manual_seed(seed)
    fids = []
    for size in sizes:
        idx = torch.randperm(n, generator=g)[:size].to(fake.device)
        fids.append(frechet_distance(stats_real, fake[idx]))
    inv_n = 1.0 / np.asarray(sizes, dtype=np.float64)
    slope, value = np.polyfit(inv_n, np.asarray(fids), deg=1)
    return FIDInfinity(value=float(value), slope=float(slope), sizes=sizes, fids=fids)
