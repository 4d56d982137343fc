"""Defenses that failed, as switches: noise at test time, dropout at test time, weight decay.

Each looked robust against the attack it was tested with and gives way to an attacker who
takes it into account.

* Noise at test time: classify x + σ·n, n ~ N(0, I), a fresh draw at every call. A plain
  gradient attack follows the gradient at one draw of the noise, a noisy estimate; EOT
  averages the gradient over many draws and gets the expected loss's gradient back
  (Athalye, Carlini & Wagner 2018, "Obfuscated Gradients Give a False Sense of Security",
  "Expectation over Transformation"; the defense they break so is Xie et al. 2018's random
  resizing and padding).
* Dropout at test time: hidden units dropped at random at every call (as in Feinman et al.
  2017's Bayesian uncertainty detector, or Dhillon et al. 2018's stochastic activation
  pruning, which Athalye et al. break with EOT too).
* Weight decay: a training option, ``coursekit.train.train_classifier(weight_decay=...)``.
  Goodfellow et al. 2015 (§5) compare it with adversarial training: on MNIST, L1 decay
  strong enough to matter stopped the network from training, weaker decay gave no benefit.

Honest small print (measured on the shipped "mnist-mlp", PGD-20, first test digits): at a
small ε = 0.1 noise (σ = 0.3) and strong weight decay do keep some accuracy that the plain
model loses (noise is the germ of randomized smoothing, Cohen et al. 2019, a real defense for
small L2 radii: :func:`smoothing_radius_bound`); at ε = 0.2 and above, under EOT, they are back
at the undefended model's accuracy, which is what tests/test_defenses_adaptive.py asserts.

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
    """``model((x + sigma · n).clamp(0, 1))``, n ~ N(0, I) drawn afresh at every call.

    Pick σ so that clean accuracy survives: on the first 1,000 test digits "mnist-cnn" keeps
    98.8% at σ = 0.05 but falls to 77% at 0.1 (it never saw noise); "mnist-mlp" keeps 96.5%
    at σ = 0.3.
    """

    def __init__(self, model: nn.Module, sigma: float = 0.05):
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


def with_test_time_dropout(model: nn.Sequential, p: float = 0.2) -> nn.Sequential:
    """``model`` with an :class:`AlwaysDropout` after each of its ReLUs (top-level layers).

    The layers themselves are shared, not copied: the result uses ``model``'s parameters.
    Clean accuracy on the first 1,000 test digits: "mnist-cnn" 97.8% at p = 0.2, 89% at 0.3.
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


def smoothing_radius_bound(sigma: float, n: int, alpha: float = 0.001) -> float:
    """The largest L2 radius randomized smoothing can certify with noise σ and ``n`` samples.

    Cohen, Rosenfeld & Kolter 2019 ("Certified Adversarial Robustness via Randomized
    Smoothing", Theorem 1): the smoothed classifier g(x) = argmax_c P(f(x + σ·n) = c) is
    constant within the L2 radius σ·Φ⁻¹(p_A), where p_A is a lower confidence bound on the top
    class's probability. Estimated from n noisy samples at confidence 1 − α (their CERTIFY, a
    one-sided Clopper–Pearson bound), p_A is at most α^(1/n), reached when all n samples agree;
    so no certificate exceeds σ·Φ⁻¹(α^(1/n)), whatever the classifier.
    """
    _check_rate("sigma", sigma)
    if not (isinstance(n, numbers.Integral) and n >= 1):
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if not (isinstance(alpha, numbers.Real) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    p_lower = alpha ** (1.0 / n)
    return float(sigma) * torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p_lower, dtype=torch.float64)).item()
