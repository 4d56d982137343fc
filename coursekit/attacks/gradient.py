"""Gradient attacks: FGSM and its iterated form, PGD (BIM / I-FGSM without random start).

FGSM (Goodfellow, Shlens & Szegedy 2015, "Explaining and Harnessing Adversarial Examples",
eq. 3):  x_adv = x + ε · sign(∇_x J(θ, x, y)), the maximiser of the loss linearised around x
over the L∞ ball of radius ε.

PGD (Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks",
eq. 2.1 and §2.1):  x_{t+1} = Π_{B(x, ε) ∩ [0,1]} (x_t + α · sign(∇_x J(θ, x_t, y))), started at
a uniform random point of the ball. Without the random start it is the Basic Iterative
Method of Kurakin, Goodfellow & Bengio 2017. With ``norm="l2"`` the step is α · g / ‖g‖₂ and
the projection rescales δ onto the L2 ball.

Targeted versions descend the loss to the target class instead (y is then the target).
Every attack here returns x_adv in [0, 1] and leaves x and the model untouched.
"""
from __future__ import annotations

import torch
from torch import nn

from ._common import check_attack_args, eval_mode, input_gradient, loss_fn

NORMS = ("linf", "l2")


def _l2_norm(v: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm, shaped (N, 1, 1, 1) to broadcast against images."""
    return v.flatten(1).norm(dim=1).view(-1, *[1] * (v.ndim - 1))


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
         targeted: bool = False) -> torch.Tensor:
    """Fast gradient sign method: one step of size ``eps`` along sign(∇_x loss), clipped to [0, 1].

    ``targeted=True`` steps *down* the loss to the labels ``y`` (the targets).
    """
    check_attack_args(x, y, eps)
    with eval_mode(model):
        grad, _ = input_gradient(model, x, y, targeted)
    return (x.detach() + eps * grad.sign()).clamp(0, 1)


def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Π onto {x' : ‖x' − x‖ ≤ eps} ∩ [0, 1]^d (clip δ to the ball, then the pixels)."""
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * (eps / _l2_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
    return (x + delta).clamp(0, 1)


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None):
    """A uniform random point of the ε-ball around x (clipped to [0, 1])."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
        delta = (2 * u - 1) * eps
    else:  # uniform in the L2 ball: random direction, radius ε·r with r ~ U(0, 1) as torchattacks
        g = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
        r = torch.rand(len(x), generator=generator, dtype=x.dtype, device="cpu").to(x.device)
        delta = g / _l2_norm(g).clamp_min(1e-12) * (r * eps).view(-1, *[1] * (x.ndim - 1))
    return (x + delta).clamp(0, 1)


def _pgd_once(model, x, y, eps, alpha, steps, norm, random_start, targeted, generator):
    x_adv = _random_start(x, eps, norm, generator) if random_start else x.clone()
    for _ in range(steps):
        grad, _ = input_gradient(model, x_adv, y, targeted)
        if norm == "linf":
            step = alpha * grad.sign()
        else:
            step = alpha * grad / (_l2_norm(grad) + 1e-10)
        x_adv = _project(x_adv + step, x, eps, norm)
    return x_adv


@torch.no_grad()
def _per_example_loss(model, x, y, targeted):
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y.long(), reduction="none")
    fooled = (logits.argmax(1) == y) if targeted else (logits.argmax(1) != y)
    return (-loss if targeted else loss), fooled


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
        steps: int, norm: str = "linf", random_start: bool = True, targeted: bool = False,
        restarts: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent on the loss, within the ``norm`` ball of radius ``eps``.

    Each of ``steps`` iterations moves by ``alpha`` (sign of the gradient for "linf", the
    normalised gradient for "l2") and projects back onto the ball and [0, 1]. With
    ``restarts > 1`` the attack is repeated from new random starts and, per example, the
    worst case is kept: a successful x_adv over a failed one, then the higher loss.
    ``generator`` seeds the random starts (default: the global torch generator).
    """
    check_attack_args(x, y, eps)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if not (isinstance(restarts, int) and restarts >= 1):
        raise ValueError(f"restarts must be an int >= 1, got {restarts!r}")
    if restarts > 1 and not random_start:
        raise ValueError("restarts > 1 needs random_start=True (restarts from x would repeat)")
    x = x.detach()
    with eval_mode(model):
        best = _pgd_once(model, x, y, eps, alpha, steps, norm, random_start, targeted, generator)
        if restarts == 1:
            return best
        best_loss, best_fooled = _per_example_loss(model, best, y, targeted)
        for _ in range(restarts - 1):
            cand = _pgd_once(model, x, y, eps, alpha, steps, norm, True, targeted, generator)
            loss, fooled = _per_example_loss(model, cand, y, targeted)
            better = (fooled & ~best_fooled) | ((fooled == best_fooled) & (loss > best_loss))
            best = torch.where(better.view(-1, 1, 1, 1), cand, best)
            best_loss = torch.where(better, loss, best_loss)
            best_fooled = best_fooled | fooled
        return best
