"""Toy data for watching a GAN train, and the mode metrics used to judge it.

The ring of 8 Gaussians and the 5×5 grid are the standard mode-collapse testbeds
(Metz et al. 2017, "Unrolled GANs", §3.1; Srivastava et al. 2017, "VEEGAN", §5.1). A sample is
*high quality* when it lies within 3σ of its nearest mode; a mode is *covered* when it
receives at least ``min_share`` of the samples as high-quality ones.
"""
from __future__ import annotations

import math

import torch

from ..validate import check_finite, check_generator, check_positive


def _randn(shape, generator):
    check_positive("n", shape[0], integer=True, allow_zero=True)
    check_generator(generator)
    return torch.randn(shape, generator=generator)


def gaussian_1d(n: int, mean: float = 4.0, std: float = 0.5,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples of N(mean, std²), shape (n, 1)."""
    return mean + std * _randn((n, 1), generator)


def ring_modes(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """Mode centres at angles 2πi/modes, i = 0..modes−1, shape (modes, 2).

    Note ``torch.arange(modes) * 2π / modes``, not ``linspace(0, 2π, modes)``: the latter
    puts the first and last centre on the same point and leaves only modes − 1 modes.
    """
    angles = torch.arange(modes, dtype=torch.float32) * (2 * math.pi / modes)
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def grid_modes(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Mode centres on a side×side grid centred at the origin, shape (side², 2)."""
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


def mixture(n: int, centres: torch.Tensor, std: float,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples of an equal-weight Gaussian mixture with the given centres and σ, shape (n, 2)."""
    check_positive("n", n, integer=True, allow_zero=True)
    check_generator(generator)
    idx = torch.randint(len(centres), (n,), generator=generator)
    return centres[idx] + std * _randn((n, centres.shape[1]), generator)


def ring(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.02,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """The ring of ``modes`` Gaussians (radius and σ as in Metz et al. 2017)."""
    return mixture(n, ring_modes(modes, radius), std, generator)


def grid(n: int, side: int = 5, spacing: float = 2.0, std: float = 0.05,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """The side×side grid of Gaussians."""
    return mixture(n, grid_modes(side, spacing), std, generator)


@torch.no_grad()
def mode_metrics(samples: torch.Tensor, centres: torch.Tensor, std: float,
                 min_share: float = 0.01) -> dict:
    """How well ``samples`` (N, 2) cover the mixture with these ``centres`` and σ.

    Returns ``modes_covered`` (modes receiving ≥ min_share·N high-quality samples),
    ``high_quality`` (share of samples within 3σ of their nearest mode) and ``kl_uniform``
    (KL divergence of the histogram of high-quality samples over modes from uniform; 0 is a
    perfectly balanced generator, log(modes) a generator stuck on one mode).
    """
    check_positive("std", std)
    check_finite("std", std)
    if samples.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must have shape (N, {centres.shape[1]}), got {tuple(samples.shape)}")
    if len(samples) == 0:
        raise ValueError("samples is empty")
    samples = samples.detach().float().cpu()
    dist = torch.cdist(samples, centres.float())  # (N, modes)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres)).float()
    covered = int((counts >= min_share * len(samples)).sum())
    if counts.sum() > 0:
        p = counts / counts.sum()
        nz = p > 0
        kl = float((p[nz] * (p[nz] * len(centres)).log()).sum())
    else:
        kl = float("inf")
    return {"modes_covered": covered, "high_quality": good.float().mean().item(),
            "kl_uniform": kl, "counts": counts.long().tolist()}


# The ring's training setting (notebooks 04 and 05): the non-saturating cost, Adam with learning
# rate 10⁻³ and β = (0.5, 0.9), one D step per G step, 2,000 steps of 256 points. RING_CHANGES
# are notebook 04's comparisons, each changing exactly one thing in it: a D that takes five
# steps per G step (Algorithm 1's k; it collapses G onto a mode or two, the tip of notebook 05
# measured), and momentum β₁ = 0.9 for both players.
RING_STD = 0.05
RING_SETTING = {"loss": "non-saturating", "optimizer": "adam", "lr_d": 1e-3, "lr_g": 1e-3,
                "betas": (0.5, 0.9), "k": 1}
RING_CHANGES = {
    "baseline": {},
    "k = 5": {"k": 5},
    "β₁ = 0.9": {"betas": (0.9, 0.9)},
}


def train_ring(steps: int = 2000, seed: int = 0, latent_dim: int = 16, hidden: int = 128,
               batch_size: int = 256, progress: bool = False, callback=None, **changes):
    """Train MLP G and D on the ring of 8 Gaussians (σ = RING_STD) with :data:`RING_SETTING`,
    except for ``changes`` (any :func:`~coursekit.gan.trainer.train_gan` argument: ``loss``,
    ``k``, ``lr_d``, ...; e.g. ``**RING_CHANGES["k = 5"]``).

    Returns (G, D, history, metrics) where metrics are :func:`mode_metrics` of 2,000 samples.
    Runs on one CPU thread: these tiny MLPs are fastest that way, and a fixed thread count
    keeps a seeded run bitwise repeatable.
    """
    from ..config import threads
    from .nets import MLPDiscriminator, MLPGenerator
    from .trainer import train_gan

    with threads(1), torch.random.fork_rng():   # seeded here, the caller's RNG untouched
        torch.manual_seed(seed)
        G, D = MLPGenerator(latent_dim, 2, hidden), MLPDiscriminator(2, hidden)
        history = train_gan(G, D, lambda n, g: ring(n, std=RING_STD, generator=g), steps=steps,
                            batch_size=batch_size, seed=seed, progress=progress, callback=callback,
                            **{**RING_SETTING, **changes})
        metrics = mode_metrics(G.sample(2000, seed=seed + 100), ring_modes(), RING_STD)
    return G.eval(), D.eval(), history, metrics
