"""Adaptive attacks, and the checks that tell real robustness from gradient masking.

A defense is only as good as the best attack that *knows about it* (Carlini & Wagner 2017;
Athalye, Carlini & Wagner 2018; Tramèr et al. 2020, "On Adaptive Attacks to Adversarial
Example Defenses"). The three adaptive tools of the lecture are in the package already and
are collected here with one calling convention, ``attack(model, x, y, eps, steps, restarts,
generator) -> x_adv``:

* PGD itself (:func:`pgd_attack`), for any differentiable defense (ensembles, detectors
  folded into one network, certified models);
* EOT (:func:`eot_attack`): the gradient of the *expected* loss over the defense's
  randomness, for noise or dropout at test time;
* BPDA: wrap the non-differentiable part in :class:`coursekit.defenses.frontend.BPDA` and
  run PGD on the result.

A defense that only hides its gradient ("gradient masking": Papernot et al. 2017; Athalye
et al. 2018) gives itself away (the warning signs listed by Athalye et al. and by Carlini et
al. 2019, "On Evaluating Adversarial Robustness"). :func:`gradient_masking_checks` runs the three
checks of the lecture on any model or defended system:

(a) accuracy falls to ~0 as ε grows (at ε = 1 every image is reachable);
(b) the black-box attack (SPSA, which needs no gradient) does not beat the white-box one;
(c) more PGD steps and random restarts do not *raise* the defender's accuracy.
"""
from __future__ import annotations

import numbers
from typing import Callable

import torch
from torch import nn

from ..attacks import QueryCounter, eot_pgd, no_transform, pgd, spsa
from ..attacks._common import check_attack_args, check_positive, eval_mode, predict_labels
from ..train import accuracy
from .adversarial import accuracy_under_attack


def _madry_alpha(eps: float, steps: int) -> float:
    """Step size 2.5 ε / steps, so PGD can cross the ball and come back (Madry et al. 2018)."""
    return 2.5 * eps / steps


def pgd_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
               steps: int = 40, restarts: int = 1,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """L∞ PGD with random start, α = 2.5 ε / steps (Madry et al. 2018), best of ``restarts``."""
    return pgd(model, x, y, eps, alpha=_madry_alpha(eps, steps), steps=steps,
               restarts=restarts, generator=generator)


def eot_attack(samples: int = 16) -> Callable:
    """An attack with :func:`pgd_attack`'s signature for *randomised* models: EOT-PGD.

    Each step averages the gradient over ``samples`` draws of the model's randomness
    (:func:`coursekit.attacks.eot_pgd` with ``transform=no_transform``). ``restarts`` runs
    it again (new draws) and keeps, per example, an x_adv that fooled the model.
    """
    check_positive("samples", samples, integer=True)

    def attack(model, x, y, eps, steps=40, restarts=1, generator=None):
        best = None
        for _ in range(restarts):
            x_adv = eot_pgd(model, x, y, eps, alpha=_madry_alpha(eps, steps), steps=steps,
                            samples=samples, transform=no_transform, generator=generator)
            if best is None:
                best = x_adv
                continue
            with eval_mode(model):
                fooled = predict_labels(model, x_adv) != y
            best = torch.where(fooled.view(-1, 1, 1, 1), x_adv, best)
        return best

    attack.__name__ = f"eot_attack(samples={samples})"
    return attack


def _accuracy_under(model, x, y, attack, eps, **kwargs) -> float:
    """Accuracy of ``model`` on ``attack(model, x, y, eps, **kwargs)``, batch by batch."""
    return accuracy_under_attack(model, x, y, lambda m, xb, yb: attack(m, xb, yb, eps, **kwargs))


def naive_vs_adaptive(defended: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                      adaptive: Callable = pgd_attack, attacked_as: nn.Module | None = None,
                      naive: Callable = pgd_attack, steps: int = 40, seed: int = 0) -> dict:
    """Accuracy of ``defended`` on clean x, under a ``naive`` attack that ignores the defense,
    and under the ``adaptive`` one; the adaptive attack differentiates ``attacked_as``
    (e.g. the BPDA version of the system; default: ``defended`` itself).

    Returns {"clean", "naive", "adaptive"}; the defense's randomness is seeded by ``seed``.
    """
    check_attack_args(x, y, eps, defended)
    target = defended if attacked_as is None else attacked_as
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        return {
            "clean": accuracy(defended, x, y),
            "naive": accuracy_under_attack(
                defended, x, y, lambda m, xb, yb: naive(m, xb, yb, eps, steps=steps, generator=g)),
            "adaptive": accuracy_under_attack(
                defended, x, y,
                lambda m, xb, yb: adaptive(target, xb, yb, eps, steps=steps, generator=g)),
        }


def gradient_masking_checks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                            attack: Callable = pgd_attack, steps: int = 20,
                            strong_steps: int = 100, restarts: int = 5,
                            eps_grid: tuple[float, ...] | None = None,
                            spsa_kwargs: dict | None = None, tolerance: float = 0.05,
                            seed: int = 0) -> dict:
    """Run the lecture's three gradient-masking checks on ``model`` at ``eps``; return a report.

    ``attack`` is the white-box attack (``pgd_attack``, or ``eot_attack()`` for a random
    defense) with ``steps`` steps; the strong version has ``strong_steps`` and ``restarts``.
    ``eps_grid`` (default: ε, 2ε, 0.5, 1) is where accuracy must fall to ≤ ``tolerance`` at
    the largest ε. SPSA (Uesato et al. 2018) gets ``spsa_kwargs`` (default: α = ε/5,
    64 directions, 40 steps' worth of queries). A check fails when the numbers differ by more
    than ``tolerance``.

    Returns {"eps", "accuracy_vs_eps": {ε: acc}, "clean", "white_box", "white_box_strong",
    "black_box", "black_box_queries_per_example", "checks": {name: passed},
    "masking_suspected"}.
    """
    check_attack_args(x, y, eps, model)
    if not eps > 0:
        raise ValueError(f"eps must be > 0 for the checks, got {eps!r}")
    if not (isinstance(tolerance, numbers.Real) and 0 <= tolerance <= 1):
        raise ValueError(f"tolerance must be a number in [0, 1], got {tolerance!r}")
    for name, value in (("steps", steps), ("strong_steps", strong_steps), ("restarts", restarts)):
        check_positive(name, value, integer=True)
    grid = sorted(set(eps_grid if eps_grid is not None else (eps, min(2 * eps, 1.0), 0.5, 1.0)))
    if not grid or grid[0] <= 0:
        raise ValueError(f"eps_grid must hold numbers > 0, got {eps_grid!r}")

    def gen(offset):
        return torch.Generator().manual_seed(seed + offset)

    with torch.random.fork_rng():  # seeds the defense's own randomness, if any
        torch.manual_seed(seed)
        curve = {e: _accuracy_under(model, x, y, attack, e, steps=steps, generator=gen(i))
                 for i, e in enumerate(grid)}
        white = curve[eps] if eps in curve else \
            _accuracy_under(model, x, y, attack, eps, steps=steps, generator=gen(100))
        strong = _accuracy_under(model, x, y, attack, eps, steps=strong_steps, restarts=restarts,
                                 generator=gen(200))
        kw = {"alpha": eps / 5, "samples": 64, "max_queries": 40 * (2 * 64 + 1)} | (spsa_kwargs or {})
        box = QueryCounter(model)  # SPSA sees scores only, and its queries are counted
        black = accuracy_under_attack(
            model, x, y, lambda m, xb, yb: spsa(box, xb, yb, eps, generator=gen(300), **kw))
        clean = accuracy(model, x, y)
    checks = {
        "accuracy_reaches_zero": curve[grid[-1]] <= tolerance,
        "black_box_not_better": black >= white - tolerance,
        "more_steps_do_not_help": strong <= white + tolerance,
    }
    return {"eps": eps, "accuracy_vs_eps": curve, "clean": clean,
            "white_box": white, "white_box_strong": strong, "black_box": black,
            "black_box_queries_per_example": box.queries / len(x),
            "checks": checks, "masking_suspected": not all(checks.values())}


def format_masking_report(report: dict) -> str:
    """The report of :func:`gradient_masking_checks` as a few readable lines."""
    curve = ", ".join(f"ε={e:g}: {a:.0%}" for e, a in report["accuracy_vs_eps"].items())
    lines = [f"clean {report['clean']:.1%}; white box {report['white_box']:.1%}, with more steps "
             f"and restarts {report['white_box_strong']:.1%}; black box (SPSA, "
             f"{report['black_box_queries_per_example']:.0f} queries per digit) "
             f"{report['black_box']:.1%}  (ε = {report['eps']:g})",
             f"accuracy as ε grows: {curve}"]
    lines += [f"  [{'ok' if ok else 'FAILED'}] {name.replace('_', ' ')}"
              for name, ok in report["checks"].items()]
    lines.append("gradient masking suspected" if report["masking_suspected"]
                 else "no sign of gradient masking")
    return "\n".join(lines)
