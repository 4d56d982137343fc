"""Training for certified robustness with interval bound propagation (IBP).

Gowal et al. 2018, "On the Effectiveness of Interval Bound Propagation for Training
Verifiably Robust Models", eq. 12: minimise a mix of the clean loss and the *specification*
loss, the cross-entropy of the worst-case logits that IBP allows over the ε-ball,

    L = κ · ℓ(z_K(x), y) + (1 − κ) · ℓ(ẑ_K(ε), y),    ẑ_{K,j} = −(lower bound of z_y − z_j),

(ẑ_{K,y} = 0). Training at full ε from the start fails, so ε is ramped up linearly from 0
after a warm-up on clean data, while κ goes down from 1 to ``kappa_end`` (their MNIST
recipe: 2k warm-up steps, 10k ramp steps, κ_end = 0.5, and a training ε larger than the one
tested: ε_train = 0.2 for ε_test = 0.1).

The training loop is :func:`coursekit.train.train_classifier` with this loss plugged in. The
shipped "mnist-certified" is trained by its recipe in :mod:`coursekit.pretrain.defended`.
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..train import train_classifier
from ..validate import check_labels
from .certify import _check_args, bound_layers, interval_bounds, margin_spec


def ramp(t: float, start: float, length: float) -> float:
    """0 before ``start``, then linear up to 1 at ``start + length`` (t, start, length in [0, 1])."""
    if length <= 0:
        return float(t >= start)
    return min(max((t - start) / length, 0.0), 1.0)


def worst_case_logits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                      clip: bool = True) -> torch.Tensor:
    """ẑ(ε), (N, K): −(IBP lower bound of z_y − z_j), so ẑ_y = 0 (Gowal et al., eq. 8)."""
    _check_args(x, eps, clip, model)
    layers = bound_layers(model)
    check_labels(y, len(x), num_classes=layers[-1].out_features)
    C = margin_spec(y, layers[-1].out_features)
    lower, _ = interval_bounds(model, x, eps, clip=clip, spec=C)
    return -lower


def ibp_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, kappa: float,
             clip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """κ · CE(z(x), y) + (1 − κ) · CE(ẑ(ε), y) (Gowal et al., eq. 12); returns (loss, clean logits)."""
    _check_args(x, eps, clip, model)
    if not (isinstance(kappa, numbers.Real) and 0 <= kappa <= 1):
        raise ValueError(f"kappa must be a number in [0, 1], got {kappa!r}")
    logits = model(x)
    check_labels(y, len(x), num_classes=logits.shape[1])
    loss = kappa * F.cross_entropy(logits, y)
    if kappa < 1 and eps > 0:
        loss = loss + (1 - kappa) * F.cross_entropy(worst_case_logits(model, x, y, eps, clip), y)
    return loss, logits


def train_ibp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 0.2,
              epochs: int = 10, lr: float = 1e-3, batch_size: int = 100, warmup: float = 0.05,
              ramp_length: float = 0.5, kappa_end: float = 0.5, clip: bool = True,
              seed: int = 0, progress: bool = True, on_epoch_end=None) -> list[dict]:
    """Train ``model`` with the IBP loss, ε ramped from 0 to ``eps`` and κ from 1 to ``kappa_end``.

    ``warmup`` and ``ramp_length`` are shares of the whole run: ε = 0 for the first
    ``warmup``, then grows linearly for ``ramp_length``, then stays at ``eps``. Each epoch's
    record gains the ε and κ it ended with. Returns the history of
    :func:`~coursekit.train.train_classifier` (Adam with a one-cycle learning rate), which
    updates the model in place and returns it to the mode it came in.
    """
    if not (isinstance(eps, numbers.Real) and eps >= 0):
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")
    for name, value in (("warmup", warmup), ("ramp_length", ramp_length), ("kappa_end", kappa_end)):
        if not (isinstance(value, numbers.Real) and 0 <= value <= 1):
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    bound_layers(model)  # fail now, not after the first epoch, on a layer IBP cannot go through
    state = {}

    def schedule(t):
        s = ramp(t, warmup, ramp_length)
        return eps * s, 1 - (1 - kappa_end) * s

    def loss_fn(m, xb, yb, t):
        state["eps"], state["kappa"] = schedule(t)
        return ibp_loss(m, xb, yb, state["eps"], state["kappa"], clip)

    def record_schedule(record):
        record.update(eps=state.get("eps", 0.0), kappa=state.get("kappa", 1.0))
        if on_epoch_end is not None:
            on_epoch_end(record)

    return train_classifier(model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                            progress=progress, loss_fn=loss_fn, on_epoch_end=record_schedule)

