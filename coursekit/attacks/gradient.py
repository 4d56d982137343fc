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

Agreement with torchattacks (tests/test_attacks_gradient.py): with ``random_start=False``,
``fgsm`` and ``pgd(norm="linf")`` give torchattacks' FGSM / PGD outputs bit for bit, at any
batch size. ``pgd(norm="l2")`` gives PGDL2's output exactly at batch size 1. At larger batches
the two part on purpose: torchattacks differentiates the batch *mean* of the loss and then
divides by ‖g‖ + 1e-10, so its step for an example with a small gradient shrinks as the
batch grows; here the loss is summed, the step is the same whatever the batch.
"""
from __future__ import annotations

import torch
from torch import nn

from ._common import (as_images_shape, check_attack_args, check_positive, eval_mode,
                      input_gradient, is_fooled, per_example_norm, project_linf)

NORMS = ("linf", "l2")


def _l2_norm(v: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm, shaped (N, 1, 1, 1) to broadcast against images."""
    return as_images_shape(per_example_norm(v), v)


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
         targeted: bool = False) -> torch.Tensor:
    """Fast gradient sign method: one step of size ``eps`` along sign(∇_x loss), clipped to [0, 1].

    ``targeted=True`` steps *down* the loss to the labels ``y`` (the targets).
    """
    check_attack_args(x, y, eps, model)
    with eval_mode(model):
        grad, _ = input_gradient(model, x, y, targeted)
    return (x.detach() + eps * grad.sign()).clamp(0, 1)


def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Π onto {x' : ‖x' − x‖ ≤ eps} ∩ [0, 1]^d (clip δ to the ball, then the pixels)."""
    if norm == "linf":
        return project_linf(x_adv, x, eps)
    delta = x_adv - x          # a fresh tensor, so the in-place steps below touch nothing else
    delta.mul_((eps / _l2_norm(delta).clamp_min(1e-12)).clamp(max=1.0))
    return delta.add_(x).clamp_(0, 1)


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
            step = alpha * (grad / (_l2_norm(grad) + 1e-10))  # op order as torchattacks
        x_adv = _project(x_adv + step, x, eps, norm)
    return x_adv


@torch.no_grad()
def _per_example_loss(model, x, y, targeted):
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y.long(), reduction="none")
    return (-loss if targeted else loss), is_fooled(logits.argmax(1), y, targeted)


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
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
    check_attack_args(x, y, eps, model)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    check_positive("alpha", alpha)
    check_positive("steps", steps, integer=True)
    check_positive("restarts", restarts, integer=True)
    if restarts > 1 and not random_start:
        raise ValueError("restarts > 1 needs random_start=True (restarts from x would repeat)")
    x, y = x.detach(), y.long()
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
