"""Auto-PGD: PGD that chooses its own step size (Croce & Hein 2020, "Reliable evaluation of
adversarial robustness with an ensemble of diverse parameter-free attacks", ICML).

PGD with a fixed step α has two ways to fail an evaluation: α too large and the iterates
bounce around the ball without settling on a high-loss point; α too small and 100 steps do
not get far. Croce & Hein's Algorithm 1 removes the choice. On the L∞ ball S = B(x, ε) ∩ [0, 1]^d,
with f the loss to climb (paper's symbols):

    x⁽¹⁾   = P_S(x⁽⁰⁾ + η⁽⁰⁾·sign(∇f(x⁽⁰⁾))),                     η⁽⁰⁾ = 2ε
    z⁽ᵏ⁺¹⁾ = P_S(x⁽ᵏ⁾ + η⁽ᵏ⁾·sign(∇f(x⁽ᵏ⁾)))
    x⁽ᵏ⁺¹⁾ = P_S(x⁽ᵏ⁾ + α·(z⁽ᵏ⁺¹⁾ − x⁽ᵏ⁾) + (1 − α)·(x⁽ᵏ⁾ − x⁽ᵏ⁻¹⁾)),  α = 0.75 (momentum)

and at each checkpoint w_j the step η is halved, and the iterate sent back to the best point
x_max found so far, when either

    1. the loss went up in fewer than ρ = 75% of the steps since the last checkpoint, or
    2. η was not halved at the last checkpoint and f_max has not improved since then.

The checkpoints are w_j = ⌈p_j·N_iter⌉ with p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03,
0.06): first a long exploration at a large step, then ever shorter phases at smaller ones.

Two losses go with it. Cross-entropy (APGD-CE) is the usual one. It can be fooled by a
network that rescales its logits, and the *difference of logits ratio* cannot
(paper eq. 5 and its targeted version eq. 6, with π the logits sorted in decreasing order):

    DLR(x, y)    = − (z_y − max_{i≠y} z_i) / (z_π1 − z_π3)
    DLR-T(x, y, t) = − (z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)

It is invariant to shifting and to scaling the logits. APGD-T climbs DLR-T once for each of
the ``targets`` classes ranked highest after the true one, on the digits that survived the
previous target: the strongest of AutoAttack's gradient attacks.

As in the authors' code (fra31/auto-attack): the start is uniform in [−1, 1]^d scaled so its
largest coordinate is ±ε; condition 2 is not tested at the first checkpoint; an example stops
as soon as it is misclassified (its trajectory is unaffected by the others, so a batch gives
what one example at a time would give, up to the random start). The returned point is, per
example, a misclassified iterate if one was found and the highest-loss iterate otherwise.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._common import (check_attack_args, check_class_labels, check_labels, check_positive,
                      eval_mode, is_fooled, linf_box)

LOSSES = ("ce", "dlr")


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None
             ) -> torch.Tensor:
    """Difference of logits ratio per example, (N,) (Croce & Hein 2020, eq. 5; eq. 6 with ``target``).

    Untargeted: −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3); targeted: −(z_y − z_t) / (z_π1 −
    (z_π3 + z_π4)/2), π the logits in decreasing order. Larger is better for the attacker;
    it is > 0 exactly when the attack succeeds (untargeted: another class beats y; targeted:
    t beats y). Needs at least 3 classes (4 with a target).
    """
    check_labels(y, len(logits), num_classes=logits.shape[1])
    if target is not None:
        check_labels(target, len(logits), "target", num_classes=logits.shape[1])
    z_sorted = logits.sort(dim=1, descending=True).values                    # (N, K)
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    eps = 1e-12                       # as in the authors' code: no division by zero on ties
    if target is None:
        z_other = logits.scatter(1, y[:, None], float("-inf")).max(1).values
        return -(z_y - z_other) / (z_sorted[:, 0] - z_sorted[:, 2] + eps)
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    return -(z_y - z_t) / (z_sorted[:, 0] - (z_sorted[:, 2] + z_sorted[:, 3]) / 2 + eps)


def checkpoints(steps: int) -> list[int]:
    """The iterations w_1 < w_2 < ... at which APGD may halve its step (Croce & Hein §3.2).

    p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06); w_j = ⌈p_j·steps⌉ as
    phases of integer length (0.22, then 0.03 shorter each time, never under 0.06 of
    ``steps``), like the authors' code. For 100 steps: 22, 41, 57, 70, 80, 87, 93, 99.
    """
    length, shrink, floor = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), \
        max(int(0.06 * steps), 1)
    points, w = [], 0
    while w + length <= steps:
        w += length
        points.append(w)
        length = max(length - shrink, floor)
    return points


def step_halving(ups: torch.Tensor, phase: int, halved_then: torch.Tensor, f_max: torch.Tensor,
                 f_max_then: torch.Tensor, rho: float = 0.75) -> torch.Tensor:
    """Which examples halve η at a checkpoint w_j (Algorithm 1), as a (N,) bool tensor.

    ``ups``: in how many of the ``phase`` = w_j − w_{j−1} steps since the last checkpoint the
    loss went up; ``halved_then``: whether η was halved at w_{j−1}; ``f_max`` and
    ``f_max_then``: the best loss now and at w_{j−1}.

    1. ups < ρ·phase: the steps mostly failed to climb, η is too large;
    2. η was not halved at w_{j−1} and f_max has not improved since: the search stalls.
    """
    condition_1 = ups < rho * phase
    condition_2 = ~halved_then & (f_max <= f_max_then)
    return condition_1 | condition_2


def _random_start(x: torch.Tensor, eps: float, generator: torch.Generator | None) -> torch.Tensor:
    """x + ε·t/‖t‖∞ with t uniform in [−1, 1]^d (the authors' start), clipped to [0, 1]."""
    t = 2 * torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device) - 1
    t = t / t.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
    return (x + eps * t).clamp(0, 1)


@torch.enable_grad()
def _loss_and_grad(model, x_k: torch.Tensor, loss_fn: Callable, rows: torch.Tensor, eot: int = 1):
    """f(x_k) per example, ∇f(x_k) and the logits; the gradient w.r.t. the input only.

    With ``eot`` > 1 (a model with randomness), f and its gradient are averaged over ``eot``
    forward passes (expectation over transformation); the logits are the last pass's.
    """
    x_k = x_k.detach().requires_grad_(True)
    loss = 0
    for _ in range(eot):
        logits = model(x_k)
        loss = loss + loss_fn(logits, rows) / eot
    (grad,) = torch.autograd.grad(loss.sum(), x_k)
    return loss.detach(), grad, logits.detach()


def apgd_run(model, x: torch.Tensor, eps: float, steps: int, loss_fn: Callable, fooled_fn: Callable,
             rho: float = 0.75, momentum: float = 0.75, random_start: bool = True,
             generator: torch.Generator | None = None, eot: int = 1, step: float | None = None,
             halving: bool = True) -> dict:
    """Algorithm 1 on a batch for any per-example loss: the core of :func:`apgd` and :func:`apgd_t`.

    ``loss_fn(logits, rows) -> (n,)`` is f, to climb, and ``fooled_fn(logits, rows) -> (n,)``
    (bool) says which examples are broken; ``rows`` holds the indices in ``x`` of the n
    examples whose logits these are (broken examples stop, so it shrinks). Returns a dict:
    ``x_adv`` (N, C, H, W), ``fooled`` (N,), ``iterations`` (N,) gradient evaluations spent
    on each example, and the traces ``loss`` and ``step`` (steps + 1, N): f(x⁽ᵏ⁾) and η⁽ᵏ⁾ at
    each iteration k (NaN after an example stopped). ``eot`` averages f and ∇f over that many
    forward passes of a random model (AutoAttack's "rand" version uses 20). ``step`` is η⁽⁰⁾
    (default 2ε); with ``halving=False`` and ``momentum=1`` what is left is PGD with a fixed
    step, from the same start.
    """
    n, shape = len(x), (-1, *[1] * (x.ndim - 1))          # shape: (N,) -> (N, 1, 1, 1)
    x_k = _random_start(x, eps, generator) if random_start else x.clone()
    a = torch.arange(n, device=x.device)             # indices in x of the examples still running
    f_k, grad, logits = _loss_and_grad(model, x_k, loss_fn, a, eot)
    fooled = fooled_fn(logits, a)
    x_adv = x_k.clone()                              # per example: the iterate that broke it
    iterations = torch.ones(n, dtype=torch.long, device=x.device)
    trace = {"loss": torch.full((steps + 1, n), float("nan"), dtype=x.dtype, device=x.device)}
    trace["step"] = trace["loss"].clone()
    eta = torch.full((n,), 2.0 * eps if step is None else step, dtype=x.dtype,
                     device=x.device)                                              # η⁽⁰⁾ = 2ε
    trace["loss"][0], trace["step"][0] = f_k, eta
    # The state below holds the running examples only, rows in the order of `a`: an example
    # that breaks is dropped from all of it at once, so a step gathers and scatters nothing.
    # Π is a clamp to [lo, hi], the ε-box around x within [0, 1] (project_linf's box, made once).
    lo, hi = linf_box(x, eps)
    x_prev = x_k.clone()
    x_max, f_max, grad_max = x_k.clone(), f_k.clone(), grad.clone()
    ups = torch.zeros(n, device=x.device)            # steps since the last checkpoint where f rose
    f_max_then = f_max.clone()                       # f_max at the last checkpoint
    halved_then = torch.ones(n, dtype=torch.bool, device=x.device)   # no condition 2 at w_1
    broke = fooled
    w, last_w = checkpoints(steps), 0
    for k in range(steps + 1):
        if broke.any():                              # record the examples that just broke, drop them
            x_adv[a[broke]], fooled[a[broke]], iterations[a[broke]] = x_k[broke], True, k + 1
            keep = ~broke
            a, lo, hi, x_k, x_prev, f_k, grad, eta, x_max, f_max, grad_max, ups, f_max_then, halved_then = (
                t[keep] for t in (a, lo, hi, x_k, x_prev, f_k, grad, eta, x_max, f_max, grad_max, ups,
                                  f_max_then, halved_then))
        if k == steps or len(a) == 0:
            break
        z = torch.clamp(x_k + eta.view(shape) * grad.sign(), lo, hi)
        m = 1.0 if k == 0 else momentum                            # x⁽¹⁾ is a plain step
        x_new = torch.clamp(x_k + m * (z - x_k) + (1 - m) * (x_k - x_prev), lo, hi)
        f_new, g_new, logits = _loss_and_grad(model, x_new, loss_fn, a, eot)
        ups += (f_new > f_k).float()
        broke = fooled_fn(logits, a)
        up = f_new > f_max
        x_max = torch.where(up.view(shape), x_new, x_max)
        f_max, grad_max = torch.where(up, f_new, f_max), torch.where(up.view(shape), g_new, grad_max)
        trace["loss"][k + 1, a], trace["step"][k + 1, a] = f_new, eta
        x_prev, x_k, f_k, grad = x_k, x_new, f_new, g_new
        if k + 1 in w:                       # checkpoint w_j: halve η, go back to x_max
            halve = step_halving(ups, k + 1 - last_w, halved_then, f_max, f_max_then, rho)
            halve &= ~broke & halving
            eta = torch.where(halve, eta / 2, eta)
            x_k = torch.where(halve.view(shape), x_max, x_k)
            f_k, grad = torch.where(halve, f_max, f_k), torch.where(halve.view(shape), grad_max, grad)
            halved_then, f_max_then, last_w = halve, f_max.clone(), k + 1
            ups = torch.zeros_like(ups)
    iterations[a] = k + 1                            # the unbroken ran every step
    x_adv[a] = x_max                                 # the unbroken: the highest-loss iterate
    return {"x_adv": x_adv, "fooled": fooled, "iterations": iterations, **trace}


def _check_apgd_args(model, x, y, eps, steps, rho, momentum, eot):
    check_attack_args(x, y, eps, model)
    check_positive("steps", steps, integer=True)
    check_positive("eot", eot, integer=True)
    for name, value in (("rho", rho), ("momentum", momentum)):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1):
            raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def apgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 100,
         loss: str = "ce", targeted: bool = False, rho: float = 0.75, momentum: float = 0.75,
         random_start: bool = True, generator: torch.Generator | None = None, eot: int = 1,
         step: float | None = None, halving: bool = True, trace: bool = False):
    """APGD-CE (``loss="ce"``) or APGD-DLR (``loss="dlr"``): Algorithm 1, ``steps`` gradient steps.

    The defaults are AutoAttack's (100 steps, ρ = 0.75, momentum 0.75, one random start drawn
    from ``generator``). ``targeted=True`` (cross-entropy only) descends the loss to the
    classes ``y``. ``eot`` averages each gradient over that many passes of a random model.
    ``step`` (η⁽⁰⁾, default 2ε) and ``halving`` switch APGD's ideas off one by one: with
    ``momentum=1, halving=False, step=α`` it is PGD with step α (and its trace).
    Returns x_adv, or (x_adv, info) with ``trace=True``: info is
    :func:`apgd_run`'s dict without ``x_adv`` (fooled, iterations, loss and step traces).
    """
    _check_apgd_args(model, x, y, eps, steps, rho, momentum, eot)
    if step is not None:
        check_positive("step", step)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if targeted and loss != "ce":
        raise ValueError("targeted=True needs loss='ce'; the targeted DLR attack is apgd_t")
    x, y = x.detach(), y.long()
    sign = -1.0 if targeted else 1.0

    def loss_fn(logits, rows):
        if loss == "dlr":
            return dlr_loss(logits, y[rows])
        check_class_labels(y[rows], logits.shape[1])
        return sign * F.cross_entropy(logits, y[rows], reduction="none")

    def fooled_fn(logits, rows):
        return is_fooled(logits.argmax(1), y[rows], targeted)

    with eval_mode(model):
        out = apgd_run(model, x, eps, steps, loss_fn, fooled_fn, rho, momentum, random_start,
                       generator, eot, step, halving)
    x_adv = out.pop("x_adv")
    return (x_adv, out) if trace else x_adv


@torch.no_grad()
def ranked_targets(model, x: torch.Tensor, y: torch.Tensor, targets: int) -> torch.Tensor:
    """(N, targets): per example the classes other than y, highest logit first (APGD-T's order)."""
    logits = model(x)
    check_class_labels(y, logits.shape[1])
    logits = logits.scatter(1, y[:, None], float("-inf"))
    return logits.argsort(1, descending=True)[:, :targets]


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def apgd_t(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 100,
           targets: int = 9, rho: float = 0.75, momentum: float = 0.75,
           generator: torch.Generator | None = None, eot: int = 1, trace: bool = False):
    """APGD-T: Algorithm 1 on the targeted DLR loss, once for each of the ``targets`` classes
    ranked highest after the true one, each run on the examples no earlier target broke.

    AutoAttack's standard settings are 9 targets of 100 steps. Untargeted in its result (it
    succeeds when the prediction leaves y); ``eot`` as in :func:`apgd`. Returns x_adv, or (x_adv, info) with
    ``trace=True``: info holds ``fooled``, ``iterations`` (gradient evaluations per example,
    summed over targets) and ``target`` (the class that broke each example, −1 if none).
    """
    _check_apgd_args(model, x, y, eps, steps, rho, momentum, eot)
    check_positive("targets", targets, integer=True)
    x, y = x.detach(), y.long()
    with eval_mode(model):
        n_classes = model(x[:1]).shape[1] if len(x) else 10
        if targets > n_classes - 1:
            raise ValueError(f"targets must be at most {n_classes - 1} (the other classes), got {targets}")
        if n_classes < 4:
            raise ValueError(f"APGD-T's loss needs at least 4 classes, the model has {n_classes}")
        ranked = ranked_targets(model, x, y, targets)                # (N, targets)
        x_adv = x.clone()
        fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        iterations = torch.zeros(len(x), dtype=torch.long, device=x.device)
        target_of = torch.full((len(x),), -1, dtype=torch.long, device=x.device)
        for j in range(targets):
            idx = (~fooled).nonzero().flatten()
            if len(idx) == 0:
                break
            y_i, t_i = y[idx], ranked[idx, j]

            def loss_fn(logits, rows):
                return dlr_loss(logits, y_i[rows], t_i[rows])

            def fooled_fn(logits, rows):
                return logits.argmax(1) != y_i[rows]

            out = apgd_run(model, x[idx], eps, steps, loss_fn, fooled_fn, rho, momentum, True,
                           generator, eot)
            x_adv[idx] = torch.where(out["fooled"].view(-1, 1, 1, 1) | (j == 0), out["x_adv"], x_adv[idx])
            iterations[idx] += out["iterations"]
            broke = idx[out["fooled"]]
            fooled[broke], target_of[broke] = True, t_i[out["fooled"]]
    info = {"fooled": fooled, "iterations": iterations, "target": target_of}
    return (x_adv, info) if trace else x_adv
