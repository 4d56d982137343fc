"""Black-box attacks: when the model answers queries but shows no gradients, or not even that.

A black box here is any callable that maps images (N, C, H, W) to scores (N, classes);
:class:`QueryCounter` wraps one and counts the images it is asked about, the cost of a
black-box attack. Both query attacks estimate the gradient of a margin loss from scores
only, then take the same signed, projected step as PGD:

* finite differences, the "numerical gradient" of the lecture (and of ZOO, Chen et al. 2017):
  ∂L/∂x_i ≈ (L(x + h e_i) − L(x − h e_i)) / 2h for each of the d pixels, 2d queries per step
  (``coords`` random pixels per step cut that down, ZOO's coordinate-wise variant);
* SPSA (Spall 1992; as an attack, Uesato et al. 2018, "Adversarial Risk and the Dangers of
  Evaluating Against Weak Attacks"): g ≈ mean_k (L(x + δ v_k) − L(x − δ v_k)) / 2δ · v_k with
  Rademacher directions v_k ∈ {±1}^d, 2·``samples`` queries per step whatever d is.

Both stop an example as soon as it is fooled (one more query per step checks), and never
spend more than ``max_queries`` queries on one example. Their default step is Madry et al.'s
rule for PGD, α = 2.5·ε / steps, applied to the number of steps the query budget allows
(:func:`default_step`): a fixed α would leave a small budget short of the ball's edge (with
α = 0.01, 1,000 SPSA queries make 7 steps and can move a pixel by 0.07 at most, short of
ε = 0.1) and waste a large one on steps much bigger than needed.

When the model cannot be queried at all, the attacker falls back on transfer
(:mod:`coursekit.attacks.transfer`).
"""
from __future__ import annotations

from typing import Callable

import torch

from ..validate import check_finite
from ._common import (check_attack_args, check_generator, check_positive, eval_mode, margin_loss,
                      project_linf)


class QueryBudgetExceeded(RuntimeError):
    """Raised by a :class:`QueryCounter` with a ``limit`` when asked one query too many."""


class QueryCounter:
    """A black box around ``model``: returns its scores without gradients, counts the queries.

    ``queries`` is the number of images asked about so far (a batch of n costs n). With
    ``limit`` set, a call that would go beyond it raises :class:`QueryBudgetExceeded`.
    """

    def __init__(self, model: Callable[[torch.Tensor], torch.Tensor], limit: int | None = None):
        self.model = model
        self.limit = limit
        self.queries = 0

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.limit is not None and self.queries + len(x) > self.limit:
            raise QueryBudgetExceeded(f"{self.queries} queries spent, {len(x)} more would pass "
                                      f"the limit of {self.limit}")
        self.queries += len(x)
        with eval_mode(self.model):
            return self.model(x).detach()


def _batched_loss(model, x: torch.Tensor, y: torch.Tensor, targeted: bool,
                  batch_size: int = 2048) -> torch.Tensor:
    """margin_loss of ``model`` on many images (one query each), in batches."""
    with torch.no_grad():
        return torch.cat([margin_loss(model(xb), yb, targeted)
                          for xb, yb in zip(x.split(batch_size), y.split(batch_size))])


def fd_gradient(model, x: torch.Tensor, y: torch.Tensor, h: float = 1e-3,
                coords: torch.Tensor | None = None, targeted: bool = False) -> torch.Tensor:
    """Central finite-difference estimate of ∇_x margin_loss, (N, C, H, W); 2·|coords| queries each.

    ``coords`` (a 1-D tensor of flat pixel indices, shared by the batch) limits the estimate to
    those pixels; the other entries are 0. Default: every pixel (2d queries per example).
    """
    check_attack_args(x, y)
    check_positive("h", h)
    check_finite("h", h)
    n, d = len(x), x.shape[1:].numel()
    coords = torch.arange(d, device=x.device) if coords is None else coords.to(x.device)
    k = len(coords)
    eye = torch.zeros(k, d, dtype=x.dtype, device=x.device)
    eye[torch.arange(k), coords] = h                                        # (k, d)
    flat = x.flatten(1)
    probes = torch.cat([flat[:, None] + eye, flat[:, None] - eye], 1)        # (n, 2k, d)
    loss = _batched_loss(model, probes.view(n * 2 * k, *x.shape[1:]),
                         y.repeat_interleave(2 * k), targeted).view(n, 2, k)
    grad = torch.zeros_like(flat)
    grad[:, coords] = (loss[:, 0] - loss[:, 1]) / (2 * h)
    return grad.view_as(x)


def spsa_gradient(model, x: torch.Tensor, y: torch.Tensor, delta: float = 0.01,
                  samples: int = 64, targeted: bool = False,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """SPSA estimate of ∇_x margin_loss with ``samples`` Rademacher directions; 2·samples queries each."""
    check_attack_args(x, y)
    check_positive("delta", delta)
    check_positive("samples", samples, integer=True)
    check_generator(generator)
    n = len(x)
    v = torch.randint(0, 2, (n, samples, *x.shape[1:]), generator=generator,
                      device="cpu").to(device=x.device, dtype=x.dtype) * 2 - 1   # (n, s, C, H, W)
    probes = torch.cat([x[:, None] + delta * v, x[:, None] - delta * v], 1)     # (n, 2s, C, H, W)
    loss = _batched_loss(model, probes.flatten(0, 1), y.repeat_interleave(2 * samples),
                         targeted).view(n, 2, samples)
    weights = (loss[:, 0] - loss[:, 1]) / (2 * delta)                          # (n, s)
    return (weights.view(n, samples, *[1] * (x.ndim - 1)) * v).mean(1)


def default_step(eps: float, max_queries: int, cost: int) -> float:
    """α = 2.5·ε / steps, where steps = (max_queries − 1) // (cost + 1) is how many signed steps
    of ``cost`` queries (plus one to check) the budget allows (Madry et al. 2018's step rule)."""
    check_positive("eps", eps, allow_zero=True)
    check_finite("eps", eps)
    check_positive("max_queries", max_queries, integer=True)
    check_positive("cost", cost, integer=True)
    steps = max(1, (max_queries - 1) // (cost + 1))
    return 2.5 * eps / steps


def _estimated_gradient_pgd(model, x, y, eps, alpha, max_queries, cost, estimate, targeted):
    """L∞ PGD with an estimated gradient, stopping per example when fooled or out of budget.

    ``cost`` queries per estimate, plus one to check the new point; ``estimate(x, y)`` returns
    the gradient for a batch. The margin loss is *descended* (it is < 0 on success).
    """
    x = x.detach()
    y = y.long()
    x_adv = x.clone()
    spent = torch.zeros(len(x), dtype=torch.long, device=x.device)
    with torch.no_grad():
        active = margin_loss(model(x), y, targeted) >= 0
    spent += 1
    while True:
        active &= spent + cost + 1 <= max_queries
        idx = active.nonzero().flatten()
        if len(idx) == 0:
            return x_adv
        grad = estimate(x_adv[idx], y[idx])
        step = x_adv[idx] - alpha * grad.sign()
        x_adv[idx] = project_linf(step, x[idx], eps)
        with torch.no_grad():
            fooled = margin_loss(model(x_adv[idx]), y[idx], targeted) < 0
        spent[idx] += cost + 1
        active[idx] = ~fooled


def _check_black_box_args(model, x, y, eps, alpha, max_queries, generator):
    check_attack_args(x, y, eps, model)
    check_generator(generator)
    if alpha is not None:
        check_positive("alpha", alpha)
    check_positive("max_queries", max_queries, integer=True)


def finite_difference_attack(model, x: torch.Tensor, y: torch.Tensor, eps: float,
                             alpha: float | None = None, max_queries: int = 20_000, h: float = 1e-3,
                             coords: int | None = None, targeted: bool = False,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """L∞ attack with finite-difference gradients, at most ``max_queries`` queries per example.

    Each step costs 2·d queries (every pixel), or 2·``coords`` with ``coords`` random pixels
    drawn per step from ``generator``; plus one query to check the result. ``alpha`` defaults
    to :func:`default_step` for this budget.
    """
    _check_black_box_args(model, x, y, eps, alpha, max_queries, generator)
    check_positive("h", h)
    d = x.shape[1:].numel()
    if coords is not None:
        check_positive("coords", coords, integer=True)
        coords = min(coords, d)

    def estimate(xa, ya):
        pick = None if coords is None else \
            torch.randperm(d, generator=generator)[:coords].to(xa.device)
        return fd_gradient(model, xa, ya, h, pick, targeted)

    cost = 2 * (d if coords is None else coords)
    alpha = default_step(eps, max_queries, cost) if alpha is None else alpha
    with eval_mode(model):
        return _estimated_gradient_pgd(model, x, y, eps, alpha, max_queries, cost, estimate,
                                       targeted)


def spsa(model, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float | None = None,
         max_queries: int = 20_000, delta: float = 0.01, samples: int = 64,
         targeted: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """L∞ attack with SPSA gradients, at most ``max_queries`` queries per example.

    Each step costs 2·``samples`` queries plus one to check the result; ``alpha`` defaults to
    :func:`default_step` for this budget. Uesato et al. use δ = 0.01, 8,192 samples per step
    (in batches) and Adam; the signed step here keeps SPSA and the finite-difference attack
    the same apart from the estimator.
    """
    _check_black_box_args(model, x, y, eps, alpha, max_queries, generator)
    check_positive("delta", delta)
    check_positive("samples", samples, integer=True)
    alpha = default_step(eps, max_queries, 2 * samples) if alpha is None else alpha
    with eval_mode(model):
        return _estimated_gradient_pgd(
            model, x, y, eps, alpha, max_queries, 2 * samples,
            lambda xa, ya: spsa_gradient(model, xa, ya, delta, samples, targeted, generator),
            targeted)
