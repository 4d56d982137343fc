"""The optimal-transport intuition for WGAN: where JS goes flat, W1 keeps a slope.

Arjovsky, Chintala & Bottou 2017, §2, Example 1: for distributions whose supports do not
overlap, the Jensen–Shannon divergence is stuck at log 2 whatever their distance, so its
gradient is 0, while the Wasserstein-1 (earth mover's) distance grows with the distance and
its gradient is ±1. Here P = N(0, σ²) and Q_θ = N(θ, σ²) on a grid: JS(P, Q_θ) saturates once
|θ| is a few σ; W1(P, Q_θ) = |θ| exactly (a shift moves every grain of mass by θ).

    JS(P, Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M),  M = ½(P + Q)
    W1(P, Q) = ∫ |F_P(x) − F_Q(x)| dx       (in 1-D, F = cumulative distribution function)
    W1 from equal-size samples a, b: mean |sort(a) − sort(b)| (match the i-th smallest to the i-th smallest)
"""
from __future__ import annotations

import math

import torch


def gaussian_density(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """N(mean, std²) evaluated at x."""
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def js_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """JS divergence (nats) of two densities sampled on a uniform grid with spacing ``dx``."""
    p, q = p / (p.sum() * dx), q / (q.sum() * dx)
    m = 0.5 * (p + q)

    def kl(a):  # 0·log 0 = 0
        mask = a > 0
        return (a[mask] * (a[mask] / m[mask]).log()).sum() * dx

    return (0.5 * kl(p) + 0.5 * kl(q)).item()


def wasserstein1_grid(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """W1 of two densities on a uniform grid: ∫ |F_P − F_Q| dx."""
    p, q = p / p.sum(), q / q.sum()
    return ((p.cumsum(0) - q.cumsum(0)).abs().sum() * dx).item()


def wasserstein1_samples(a: torch.Tensor, b: torch.Tensor) -> float:
    """W1 between two 1-D samples of equal size: mean |sort(a) − sort(b)|."""
    a, b = torch.as_tensor(a).flatten(), torch.as_tensor(b).flatten()
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"a and b must be non-empty and of equal size, got {len(a)} and {len(b)}")
    return (a.sort().values - b.sort().values).abs().mean().item()


def shift_curves(thetas: torch.Tensor, std: float = 0.1, lo: float = -4.0, hi: float = 4.0,
                 points: int = 8001) -> dict:
    """JS(P, Q_θ) and W1(P, Q_θ) for P = N(0, std²), Q_θ = N(θ, std²), for each θ in ``thetas``
    (keep |θ| + 6·std inside [lo, hi]). Returns {"theta", "js", "w1"} as float64 tensors."""
    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    dx = (hi - lo) / (points - 1)
    p = gaussian_density(x, 0.0, std)
    js, w1 = [], []
    for theta in thetas.tolist():
        q = gaussian_density(x, theta, std)
        js.append(js_divergence(p, q, dx))
        w1.append(wasserstein1_grid(p, q, dx))
    return {"theta": thetas.double(), "js": torch.tensor(js, dtype=torch.float64),
            "w1": torch.tensor(w1, dtype=torch.float64)}
