"""Carlini–Wagner L2 attack.

Carlini & Wagner 2017, "Towards Evaluating the Robustness of Neural Networks", §V.A. Change of
variable x' = ½(tanh(w) + 1), which keeps x' in [0, 1] without clipping, and minimise

    ‖x' − x‖₂² + c · f(x'),     f(x') = max(Z(x')_y − max_{i≠y} Z(x')_i + κ, 0)   (untargeted)
                                f(x') = max(max_{i≠t} Z(x')_i − Z(x')_t + κ, 0)   (targeted)

with Adam, where Z are the logits (the paper's objective f₆). A binary search over c per
example (starting at ``initial_const``, ×10 until an adversarial is found, then bisection)
finds the smallest c that succeeds; the answer is the closest adversarial seen at any c.

Defaults are the authors' (``l2_attack.py``): 9 search steps, lr 0.01, c₀ = 1e-3, κ = 0,
abort early when the loss stops falling; they use 10,000 Adam steps, ``steps`` here
defaults to 1,000. Unlike the authors' code, the early abort and the Adam state are per
example, so a result does not depend on what else is in the batch. Examples for which no
adversarial is found are returned unchanged.
"""
from __future__ import annotations

import torch

from ._common import (as_images_shape, check_attack_args, check_positive, eval_mode,
                      margin_loss, per_example_norm)

_SHRINK = 0.999999  # the authors' factor: keeps atanh finite at pixels that are exactly 0 or 1


def _to_tanh_space(x: torch.Tensor) -> torch.Tensor:
    return torch.atanh((2 * x - 1) * _SHRINK)


def _from_tanh_space(w: torch.Tensor) -> torch.Tensor:
    return (torch.tanh(w) + 1) / 2


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def cw_l2(model, x: torch.Tensor, y: torch.Tensor, kappa: float = 0.0, steps: int = 1000,
          lr: float = 0.01, binary_search_steps: int = 9, initial_const: float = 1e-3,
          abort_early: bool = True, targeted: bool = False) -> torch.Tensor:
    """The smallest-L2 adversarial found by C&W's f₆ objective and a binary search over c.

    ``kappa`` is the confidence margin κ; ``steps`` Adam steps (learning rate ``lr``) are run
    for each of ``binary_search_steps`` values of c. With ``targeted=True``, ``y`` holds the
    targets.
    """
    check_attack_args(x, y, model=model)
    check_positive("kappa", kappa, allow_zero=True)
    check_positive("steps", steps, integer=True)
    check_positive("lr", lr)
    check_positive("binary_search_steps", binary_search_steps, integer=True)
    check_positive("initial_const", initial_const)
    x = x.detach()
    y = y.long()
    n = len(x)
    w0 = _to_tanh_space(x)
    x_ref = _from_tanh_space(w0)       # x as the tanh space sees it (within 1e-6 of x)
    const = torch.full((n,), float(initial_const), dtype=x.dtype, device=x.device)
    lower = torch.zeros_like(const)
    upper = torch.full_like(const, float("inf"))
    best = x.clone()
    best_l2 = torch.full_like(const, float("inf"))
    check_every = max(1, -(-steps // 10))   # ceil(steps / 10), as the authors
    beta1, beta2 = 0.9, 0.999

    with eval_mode(model):
        for search in range(binary_search_steps):
            if binary_search_steps >= 10 and search == binary_search_steps - 1:
                const = upper.clamp(max=1e10)   # the authors' last try at the upper bound
            delta = torch.zeros_like(x)
            m, v = torch.zeros_like(x), torch.zeros_like(x)
            running = torch.ones(n, dtype=torch.bool, device=x.device)
            prev = torch.full_like(const, float("inf"))
            found = torch.zeros(n, dtype=torch.bool, device=x.device)
            for step in range(steps):
                d = delta.detach().requires_grad_(True)
                x_adv = _from_tanh_space(w0 + d)
                logits = model(x_adv)
                l2sq = (x_adv - x_ref).flatten(1).pow(2).sum(1)                     # (N,)
                margin = margin_loss(logits, y, targeted)
                loss = l2sq + const * (margin + kappa).clamp(min=0)                 # (N,)
                (grad,) = torch.autograd.grad(loss.sum(), d)
                with torch.no_grad():
                    if abort_early and step % check_every == 0:
                        running &= loss <= 0.9999 * prev    # no progress: this example stops
                        prev = torch.where(running, loss, prev)
                    # Adam, one step for the examples still running
                    t = step + 1
                    keep = as_images_shape(running, x)
                    m = torch.where(keep, beta1 * m + (1 - beta1) * grad, m)
                    v = torch.where(keep, beta2 * v + (1 - beta2) * grad * grad, v)
                    update = lr * (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)).sqrt() + 1e-8)
                    delta = torch.where(keep, delta - update, delta)
                    # book-keeping on the point that was just evaluated (as the authors)
                    success = margin + kappa < 0
                    found |= success
                    l2 = per_example_norm(x_adv - x)
                    better = success & (l2 < best_l2)
                    best_l2 = torch.where(better, l2, best_l2)
                    best = torch.where(as_images_shape(better, x), x_adv.detach(), best)
                if not running.any():
                    break
            upper = torch.where(found, torch.minimum(upper, const), upper)
            lower = torch.where(found, lower, torch.maximum(lower, const))
            const = torch.where(upper.isinf(), const * 10, (lower + upper) / 2)
    return best
