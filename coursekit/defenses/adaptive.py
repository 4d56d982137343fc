"""Adaptive attacks: the attacks that know about the defense.

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
et al. 2018) gives itself away; the checks that catch it are the course's one checklist,
:func:`coursekit.defenses.masking.masking_checklist`, read off a row of the defenses ×
attacks table (:func:`coursekit.defenses.scoreboard.gradient_masking_checks` measures that row
for one model).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..attacks import eot_pgd, no_transform, pgd
from ..attacks._common import check_attack_args, check_positive, eval_mode, predict_labels
from ..train import accuracy
from .adversarial import accuracy_under_attack


def _madry_alpha(eps: float, steps: int) -> float:
    """Step size 2.5 ε / steps, so PGD can cross the ball and come back (Madry et al. 2018)."""
    check_positive("steps", steps, integer=True)
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
