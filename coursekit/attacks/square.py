"""The Square attack: random search on the scores alone (Andriushchenko, Croce, Flammarion &
Hein 2020, "Square Attack: a query-efficient black-box adversarial attack via random search",
ECCV; Algorithm 1, with the L∞ proposal of Algorithm 2).

No gradient at all, so a defense that hides its gradient (gradient masking) does not hide
from it: on a model that Square breaks more often than the gradient attacks do, the
gradient attacks were misled. It keeps a current best point x̂ and its margin loss
L(x̂) = z_y − max_{j≠y} z_j (< 0 once the model is fooled), and repeats, one query each:

    draw a square window of side h⁽ⁱ⁾ at a uniformly random place, and one sign per channel;
    x_new = x̂ with the window set to x ± ε (then clipped to [0, 1]);
    if L(x_new) < L(x̂):  x̂ = x_new          (the acceptance step: keep only improvements)

Every pixel of x̂ sits at a corner of the ε-box, where the L∞ attacks' optima lie. It starts
from vertical stripes of ±ε (one sign per column), which hurt convolutional networks a lot.
The window covers a share p of the image, h⁽ⁱ⁾ = round(√(p·H·W)): p starts at p_init (0.8 in
AutoAttack) and halves at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 (the
authors' schedule for 10,000 queries): large changes first, single pixels at the end. With
``rescale=True`` the schedule is stretched to the budget; AutoAttack's standard version runs
5,000 queries on the unstretched one.

A proposal that would change nothing (the window already holds that sign) gets its sign
flipped before it is queried, as the authors' NumPy code redraws it, so no query is wasted.
The query count is per example, the initial point included; an example stops once fooled.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ._common import check_attack_args, check_positive, eval_mode, linf_box, margin_loss

# (iteration of a 10,000-iteration run up to which, divisor of p_init)
P_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64),
              (6000, 128), (8000, 256))


def p_schedule(i: int, queries: int, p_init: float = 0.8, rescale: bool = True) -> float:
    """p at iteration ``i``: the authors' halvings, stretched from 10,000 to ``queries`` if ``rescale``."""
    if rescale:
        i = int(i / queries * 10_000)
    for last, divisor in P_SCHEDULE:
        if i <= last:
            return p_init / divisor
    return p_init / 512


def _signs(shape, generator, like: torch.Tensor) -> torch.Tensor:
    """Uniform random ±1 of ``shape``, drawn on the CPU from ``generator``, like ``like``."""
    bits = torch.randint(0, 2, shape, generator=generator, device="cpu")
    return (2 * bits - 1).to(device=like.device, dtype=like.dtype)


def _window(n: int, s: int, h: int, w: int, generator, device) -> torch.Tensor:
    """(n, 1, h, w) masks of one s×s square each, at uniformly random places."""
    top = torch.randint(0, h - s + 1, (n,), generator=generator).to(device)
    left = torch.randint(0, w - s + 1, (n,), generator=generator).to(device)
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + s)              # (n, h)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + s)            # (n, w)
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]               # (n, 1, h, w)


@torch.no_grad()
def square(model, x: torch.Tensor, y: torch.Tensor, eps: float, queries: int = 5000,
           p_init: float = 0.8, targeted: bool = False, generator: torch.Generator | None = None,
           rescale: bool = True, trace: bool = False):
    """L∞ Square attack with at most ``queries`` queries per example (AutoAttack: 5,000, p_init 0.8).

    ``model`` may be any callable from images to scores (a :class:`~coursekit.attacks.QueryCounter`
    counts the queries from outside). ``generator`` draws every random choice; ``rescale``
    stretches p's schedule to ``queries`` (see the module's text). Returns x_adv
    (the best point per example), or (x_adv, info) with ``trace=True``: info holds
    ``queries`` (N,), spent per example, ``margin`` (N,), the margin loss at x_adv (< 0:
    fooled), and ``fooled`` (N,).
    """
    check_attack_args(x, y, eps, model)
    check_positive("queries", queries, integer=True)
    if not (isinstance(p_init, (int, float)) and 0 < p_init <= 1):
        raise ValueError(f"p_init must be a share of the image in (0, 1], got {p_init!r}")
    x, y = x.detach(), y.long()
    n, c, h, w = x.shape
    with eval_mode(model):
        x_best = (x + eps * _signs((n, c, 1, w), generator, x)).clamp(0, 1)   # vertical stripes
        loss = margin_loss(model(x_best), y, targeted)                        # L(x̂), (N,)
        spent = torch.ones(n, dtype=torch.long, device=x.device)
        down, up = linf_box(x, eps)                                 # each pixel's two corners
        # the examples not fooled yet (a) and their state, compacted: one that is fooled leaves
        a = (loss >= 0).nonzero().flatten()
        best_a, loss_a, y_a, up_a, down_a = x_best[a], loss[a], y[a], up[a], down[a]
        for i in range(queries - 1):
            if len(a) == 0:
                break
            s = min(max(round(math.sqrt(p_schedule(i, queries, p_init, rescale) * h * w)), 1), h - 1, w - 1)
            window = _window(len(a), s, h, w, generator, x.device)                 # (n, 1, h, w)
            plus = _signs((len(a), c, 1, 1), generator, x) > 0                    # (n, c, 1, 1)
            x_new = torch.where(window, torch.where(plus, up_a, down_a), best_a)
            unchanged = (x_new == best_a).flatten(1).all(1).view(-1, 1, 1, 1)
            x_new = torch.where(window & unchanged, torch.where(plus, down_a, up_a), x_new)  # flipped
            loss_new = margin_loss(model(x_new), y_a, targeted)
            better = loss_new < loss_a                                    # the acceptance step
            best_a = torch.where(better.view(-1, 1, 1, 1), x_new, best_a)
            loss_a = torch.where(better, loss_new, loss_a)
            fooled = loss_a < 0
            if fooled.any():                                              # they leave the run
                done = a[fooled]
                x_best[done], loss[done], spent[done] = best_a[fooled], loss_a[fooled], i + 2
                keep = ~fooled
                a, best_a, loss_a, y_a, up_a, down_a = (t[keep] for t in (a, best_a, loss_a, y_a, up_a, down_a))
        x_best[a], loss[a], spent[a] = best_a, loss_a, queries          # ran the whole budget
    if trace:
        return x_best, {"queries": spent, "margin": loss, "fooled": loss < 0}
    return x_best
