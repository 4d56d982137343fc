"""Pictures of a GAN at work: the 1-D game, 2-D samples over the modes, loss curves."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from ..modes import eval_mode


@torch.no_grad()
def plot_1d_game(G: nn.Module, D: nn.Module, x_real: torch.Tensor, ax=None, n_fake: int = 2000,
                 seed: int = 0, title: str | None = None):
    """Histogram of real data and of G's samples, with D's belief σ(D(x)) drawn over them."""
    ax = ax or plt.gca()
    x_fake = G.sample(n_fake, seed=seed).flatten().cpu()
    x_real = x_real.flatten().cpu()
    lo = min(x_real.min(), x_fake.min()).item() - 1
    hi = max(x_real.max(), x_fake.max()).item() + 1
    bins = torch.linspace(lo, hi, 60).numpy()
    ax.hist(x_real.numpy(), bins=bins, density=True, alpha=0.5, label="real data")
    ax.hist(x_fake.numpy(), bins=bins, density=True, alpha=0.5, label="G(z)")
    grid = torch.linspace(lo, hi, 200).view(-1, 1)
    with eval_mode(D):
        belief = torch.sigmoid(D(grid.to(next(D.parameters()).device))).cpu()
    ax2 = ax.twinx()
    ax2.plot(grid.flatten().numpy(), belief.numpy(), color="k", label="D(x)")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("D(x) = P(real)")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(title or "the 1-D game")
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_2d_samples(samples: torch.Tensor, centres: torch.Tensor, ax=None, title: str | None = None,
                    real: torch.Tensor | None = None, legend: bool = False):
    """Generated points over the mode centres, drawn on top of the real points (light grey), so
    that a generator piled onto one mode stays visible."""
    ax = ax or plt.gca()
    if real is not None:
        ax.scatter(*real.cpu().T.numpy(), s=3, alpha=0.25, c="0.6", label="real data")
    if len(samples):
        ax.scatter(*samples.detach().cpu().T.numpy(), s=4, alpha=0.5, c="tab:orange", label="G(z)")
    ax.scatter(*centres.T.numpy(), marker="x", c="k", s=40, label="modes")
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(title or "samples")
    if legend:
        ax.legend(loc="lower left", fontsize=8, markerscale=2)
    return ax


def plot_losses(history: dict, ax=None, title: str = "losses", smooth: int = 20):
    """D and G losses per step (moving average over ``smooth`` steps)."""
    ax = ax or plt.gca()
    for key in ("d_loss", "g_loss"):
        values = torch.tensor(history[key])
        if smooth > 1 and len(values) >= smooth:
            values = values.unfold(0, smooth, 1).mean(1)
        ax.plot(values.numpy(), label=key.replace("_loss", ""))
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    return ax
