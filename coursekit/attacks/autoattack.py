"""AutoAttack: the field's standard robustness evaluation (Croce & Hein 2020, "Reliable
evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks").

No attack is best on every defense, and a single one tuned by hand is how most published
defenses came to overstate their robustness. AutoAttack runs a fixed ensemble with fixed
budgets, nothing to tune, each attack on the digits that survived the ones before:

===========  ==============================================================  ================
attack       what it is                                                      standard budget
===========  ==============================================================  ================
APGD-CE      APGD on the cross-entropy (:func:`~coursekit.attacks.apgd`)     100 steps
APGD-T       APGD on the targeted DLR loss, the top 9 other classes in turn  9 × 100 steps
             (:func:`~coursekit.attacks.apgd_t`)
Square       random search on the scores alone (:func:`~coursekit.attacks.   5,000 queries,
             square`): no gradient, so gradient masking does not stop it     p_init = 0.8
===========  ==============================================================  ================

A digit counts as robust only if it survives all of them: robust accuracy is the share of
digits still classified correctly at the end. Because Square runs last, on what the
gradient attacks could not break, every digit it breaks is one that *only* a black-box
attack found: a sign that the gradients mislead (gradient masking), which
:func:`square_only` counts.

The authors' "standard" version also runs FAB-T (a minimal-perturbation attack) between
APGD-T and Square; it is left out here, as in the course's definition of robust accuracy
(APGD-CE, APGD-T and Square on the survivors). tests/ and data/results/ compare this
ensemble with torchattacks' full AutoAttack on the same digits.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import torch
from torch import nn

from ._common import check_attack_args, check_positive, eval_mode, margin_loss
from .apgd import apgd, apgd_t
from .square import square

ATTACKS = ("apgd-ce", "apgd-t", "square")


class AutoAttackResult(NamedTuple):
    """What :func:`autoattack` returns.

    ``x_adv`` (N, C, H, W): per digit the adversarial example that broke it, or, for a digit
    that survived, the point of lowest margin any attack reached. ``broken_by``: per digit
    "clean" (misclassified without attack), the name of the attack that broke it, or ""
    (robust). ``report``: one dict per attack, in order, with ``attack``, ``ran_on`` (digits
    attacked), ``broke``, ``robust_accuracy`` (after it), ``cost`` (mean gradient steps or
    queries per attacked digit) and ``seconds``. ``clean_accuracy`` and ``robust_accuracy``
    are shares of all N digits.
    """

    x_adv: torch.Tensor
    broken_by: list[str]
    report: list[dict]
    clean_accuracy: float
    robust_accuracy: float


def square_only(result: AutoAttackResult) -> float:
    """Share of the digits that Square broke after every gradient attack had failed on them."""
    return sum(b == "square" for b in result.broken_by) / max(len(result.broken_by), 1)


def _share(mask: torch.Tensor) -> float:
    """The share of True in ``mask``, counted exactly (NaN for an empty batch)."""
    return int(mask.sum()) / len(mask) if len(mask) else float("nan")


def _run(name: str, model, x, y, eps, steps, targets, queries, generator):
    """One attack of the ensemble on (x, y): x_adv, and its cost per example (N,)."""
    if name == "apgd-ce":
        x_adv, info = apgd(model, x, y, eps, steps, loss="ce", generator=generator, trace=True)
        return x_adv, info["iterations"]
    if name == "apgd-t":
        x_adv, info = apgd_t(model, x, y, eps, steps, targets, generator=generator, trace=True)
        return x_adv, info["iterations"]
    x_adv, info = square(model, x, y, eps, queries, generator=generator, rescale=False, trace=True)
    return x_adv, info["queries"]


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
               attacks: tuple[str, ...] = ATTACKS, steps: int = 100, targets: int = 9,
               queries: int = 5000, batch_size: int = 500, seed: int = 0,
               progress: bool = False) -> AutoAttackResult:
    """Run ``attacks`` (default APGD-CE, APGD-T, Square) at L∞ radius ``eps``, each on the survivors.

    ``steps`` are APGD's steps (per target for APGD-T, which tries ``targets`` classes) and
    ``queries`` Square's budget per digit: the standard budgets by default. Works in batches
    of ``batch_size``; every random choice comes from a generator seeded with ``seed``.
    """
    check_attack_args(x, y, eps, model)
    if not attacks or any(a not in ATTACKS for a in attacks) or len(set(attacks)) != len(attacks):
        raise ValueError(f"attacks must be distinct names from {ATTACKS}, got {attacks!r}")
    for name, value in (("steps", steps), ("targets", targets), ("queries", queries),
                        ("batch_size", batch_size)):
        check_positive(name, value, integer=True)
    x, y = x.detach(), y.long()
    generator = torch.Generator().manual_seed(seed)
    with eval_mode(model):
        with torch.no_grad():
            logits = torch.cat([model(xb) for xb in x.split(batch_size)]) if len(x) else \
                torch.zeros(0, 1, device=x.device)
        alive = logits.argmax(1) == y
        broken_by = ["" if ok else "clean" for ok in alive.tolist()]
        clean_accuracy = _share(alive)
        x_adv, best_margin = x.clone(), margin_loss(logits, y, False) if len(x) else logits[:, 0]
        report = []
        for name in attacks:
            idx = alive.nonzero().flatten()
            tick, cost = time.perf_counter(), 0
            for part in idx.split(batch_size):
                if progress:
                    print(f"\r{name}: {int((~alive).sum())} of {len(x)} broken", end="", flush=True)
                xa, spent = _run(name, model, x[part], y[part], eps, steps, targets, queries,
                                 generator)
                with torch.no_grad():
                    logits = model(xa)
                fooled, margin = logits.argmax(1) != y[part], margin_loss(logits, y[part], False)
                keep = fooled | (margin < best_margin[part])     # worst case so far per digit
                x_adv[part[keep]], best_margin[part[keep]] = xa[keep], margin[keep]
                alive[part[fooled]] = False
                for i in part[fooled].tolist():
                    broken_by[i] = name
                cost += int(spent.sum())
            report.append({"attack": name, "ran_on": len(idx), "broke": len(idx) - int(alive[idx].sum()),
                           "robust_accuracy": _share(alive),
                           "cost": cost / max(len(idx), 1), "seconds": time.perf_counter() - tick})
            if progress:
                print(f"\r{name}: robust accuracy {report[-1]['robust_accuracy']:.2%} "
                      f"({report[-1]['seconds']:.0f} s)", flush=True)
    return AutoAttackResult(x_adv, broken_by, report, clean_accuracy, _share(alive))
