"""The GAN loss zoo, each as a pair (D loss, G loss) on the discriminator's raw outputs.

D's raw output ("logit") is d = D(x) ∈ ℝ; for the probabilistic losses D(x) = σ(d). All
probabilistic losses are written with softplus, since −log σ(d) = softplus(−d) and
−log(1 − σ(d)) = softplus(d), so they never take log(0).

Symbol table: ``d_real`` = D(x) on real data, ``d_fake`` = D(G(z)) on generated data.
Every function returns the mean over the batch. The table of Lucic et al. 2018 ("Are GANs
Created Equal?", Table 1) lists the same losses; the presets below carry each paper's
published hyperparameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import check_positive


# --- minimax and non-saturating (Goodfellow et al. 2014) ------------------------------------

def minimax_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """J(D) = −E[log D(x)] − E[log(1 − D(G(z)))] (Goodfellow et al. 2014, eq. 1, negated).

    ``real_label`` < 1 is one-sided label smoothing (Salimans et al. 2016, §3.4): the real
    target becomes e.g. 0.9 while the fake target stays 0.
    """
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label must be in (0, 1], got {real_label}")
    real_term = real_label * F.softplus(-d_real) + (1 - real_label) * F.softplus(d_real)
    return real_term.mean() + F.softplus(d_fake).mean()


def saturating_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """J(G) = E[log(1 − D(G(z)))], the minimax cost: its gradient vanishes when D(G(z)) ≈ 0."""
    return -F.softplus(d_fake).mean()


def non_saturating_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """J(G) = −E[log D(G(z))] (Goodfellow et al. 2014, §3): strong gradients early in training."""
    return F.softplus(-d_fake).mean()


# --- least squares (Mao et al. 2017, eq. 9 with a = 0, b = c = 1) ----------------------------

def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """J(D) = ½ E[(D(x) − 1)²] + ½ E[D(G(z))²]."""
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake ** 2).mean()


def lsgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """J(G) = ½ E[(D(G(z)) − 1)²]."""
    return 0.5 * ((d_fake - 1) ** 2).mean()


# --- Wasserstein (Arjovsky et al. 2017, Algorithm 1; Gulrajani et al. 2017, Algorithm 1) -----

def wgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The critic minimises E[D(G(z))] − E[D(x)], the negated Kantorovich–Rubinstein estimate."""
    return d_fake.mean() - d_real.mean()


def wgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """J(G) = −E[D(G(z))]."""
    return -d_fake.mean()


@torch.no_grad()
def clip_weights(D: nn.Module, clip: float) -> None:
    """WGAN's crude Lipschitz constraint: clamp every parameter of the critic to [−c, c]."""
    check_positive("clip", clip)
    for p in D.parameters():
        p.clamp_(-clip, clip)


def _penalty_at(D: nn.Module, x_hat: torch.Tensor) -> torch.Tensor:
    """E[(‖∇_x̂ D(x̂)‖₂ − 1)²], with a graph so that it can be minimised through D."""
    x_hat = x_hat.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _uniform(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator, dtype=like.dtype, device="cpu").to(like.device)


def gradient_penalty(D: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3): E[(‖∇D(x̂)‖₂ − 1)²] at
    x̂ = ε x + (1 − ε) x̃ with ε ~ U[0, 1] per example. Multiply by λ (10 in the paper)."""
    eps = _uniform((len(x_real),) + (1,) * (x_real.ndim - 1), x_real, generator)
    return _penalty_at(D, eps * x_real.detach() + (1 - eps) * x_fake.detach())


def dragan_penalty(D: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, c: float = 0.5) -> torch.Tensor:
    """DRAGAN's penalty (Kodali et al. 2017, §5): the same gradient penalty, but around the
    data only: x̂ = x + α·δ with δ = c·std(x)·U[0, 1] noise and α ~ U[0, 1] per example."""
    noise = c * x_real.std() * _uniform(x_real.shape, x_real, generator)
    alpha = _uniform((len(x_real),) + (1,) * (x_real.ndim - 1), x_real, generator)
    return _penalty_at(D, x_real.detach() + alpha * noise)


# --- hinge (Lim & Ye 2017; Miyato et al. 2018, eq. 16 and 17) ----------------------------------

def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """J(D) = E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]."""
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def hinge_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """J(G) = −E[D(G(z))]."""
    return -d_fake.mean()


# --- the zoo ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GANLoss:
    """One entry of the zoo: the two losses, an optional penalty on D (weighted by
    ``penalty_weight``), an optional weight clip, and the paper's training hyperparameters."""

    name: str
    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]
    penalty: Callable[..., torch.Tensor] | None = None
    penalty_weight: float = 0.0
    clip: float | None = None
    preset: dict = field(default_factory=dict)
    paper: str = ""


# Adam 2e-4, β = (0.5, 0.999) is the DCGAN recipe (Radford et al. 2016, §4).
_DCGAN = {"optimizer": "adam", "lr_d": 2e-4, "lr_g": 2e-4, "betas": (0.5, 0.999), "k": 1}

LOSSES = {
    "minimax": GANLoss("minimax", minimax_d_loss, saturating_g_loss, preset=_DCGAN,
                       paper="Goodfellow et al. 2014, eq. 1"),
    "non-saturating": GANLoss("non-saturating", minimax_d_loss, non_saturating_g_loss,
                              preset=_DCGAN, paper="Goodfellow et al. 2014, §3"),
    "lsgan": GANLoss("lsgan", lsgan_d_loss, lsgan_g_loss, preset=_DCGAN,
                     paper="Mao et al. 2017, eq. 9"),
    "wgan": GANLoss("wgan", wgan_d_loss, wgan_g_loss, clip=0.01,
                    preset={"optimizer": "rmsprop", "lr_d": 5e-5, "lr_g": 5e-5, "k": 5},
                    paper="Arjovsky et al. 2017, Algorithm 1"),
    "wgan-gp": GANLoss("wgan-gp", wgan_d_loss, wgan_g_loss, penalty=gradient_penalty,
                       penalty_weight=10.0,
                       preset={"optimizer": "adam", "lr_d": 1e-4, "lr_g": 1e-4,
                               "betas": (0.0, 0.9), "k": 5},
                       paper="Gulrajani et al. 2017, Algorithm 1"),
    "hinge": GANLoss("hinge", hinge_d_loss, hinge_g_loss, preset=_DCGAN,
                     paper="Lim & Ye 2017; Miyato et al. 2018, eq. 16-17"),
    "dragan": GANLoss("dragan", minimax_d_loss, non_saturating_g_loss, penalty=dragan_penalty,
                      penalty_weight=10.0, preset={**_DCGAN, "betas": (0.5, 0.9)},
                      paper="Kodali et al. 2017, §5"),
}


def get_loss(name: str) -> GANLoss:
    """The zoo entry ``name`` (see :data:`LOSSES`)."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]
