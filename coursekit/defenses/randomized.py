"""Defenses that failed, as switches: noise at test time, dropout at test time, weight decay.

Each looked robust against the attack it was tested with and gives way to an attacker who
takes it into account.

* Noise at test time: classify x + σ·n, n ~ N(0, I), a fresh draw at every call. A plain
  gradient attack follows the gradient at one draw of the noise, a noisy estimate; EOT
  averages the gradient over many draws and gets the expected loss's gradient back
  (Athalye, Carlini & Wagner 2018, "Obfuscated Gradients Give a False Sense of Security",
  §4.3 and §5.3; the defense there is Xie et al. 2018's random resizing and padding).
* Dropout at test time: hidden units dropped at random at every call (as in Feinman et al.
  2017's Bayesian uncertainty detector, or Dhillon et al. 2018's stochastic activation
  pruning, which Athalye et al. break with EOT in §5.3.1).
* Weight decay: a training option, ``coursekit.train.train_classifier(weight_decay=...)``.
  A smaller-weight network is no more robust at a given ε once the attack is run to
  convergence (Goodfellow et al. 2015, §5, found L1 decay too weak to help on MNIST).

The random switches are ``nn.Module`` wrappers whose randomness stays on in eval mode (an
attack's ``eval_mode`` does not remove it, just as a deployed system would not). Attack them
with :func:`coursekit.attacks.eot_pgd` and ``transform=no_transform``.
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn


def _check_rate(name: str, value: float, upper: float | None = None) -> None:
    if not (isinstance(value, numbers.Real) and value >= 0 and (upper is None or value < upper)):
        bound = f"in [0, {upper})" if upper is not None else ">= 0"
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")


class GaussianNoiseDefense(nn.Module):
    """``model((x + sigma · n).clamp(0, 1))``, n ~ N(0, I) drawn afresh at every call."""

    def __init__(self, model: nn.Module, sigma: float = 0.3):
        super().__init__()
        _check_rate("sigma", sigma)
        self.model, self.sigma = model, float(sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x + self.sigma * torch.randn_like(x)).clamp(0, 1))


class AlwaysDropout(nn.Module):
    """Dropout (inverted: survivors scaled by 1/(1 − p)) that stays on in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        _check_rate("p", p, upper=1)
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, training=True)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def with_test_time_dropout(model: nn.Sequential, p: float = 0.3) -> nn.Sequential:
    """``model`` with an :class:`AlwaysDropout` after each of its ReLUs (top-level layers).

    The layers themselves are shared, not copied: the result uses ``model``'s parameters.
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be an nn.Sequential classifier, got {type(model).__name__}")
    layers = []
    for layer in model:
        layers.append(layer)
        if isinstance(layer, nn.ReLU):
            layers.append(AlwaysDropout(p))
    if len(layers) == len(model):
        raise ValueError("model has no top-level nn.ReLU after which to drop units")
    return nn.Sequential(*layers)
