"""Adversarial attacks, one module per family.

Each attack has the shape ``attack(model, x, y, ..., targeted=False) -> x_adv`` with x and
x_adv float images (N, C, H, W) in [0, 1]; with ``targeted=True``, y holds the target classes.
None changes x or the model (parameters, buffers, gradients, train/eval mode). The
exceptions to the shape say so: :func:`optimize_input` also returns its loss history,
:func:`universal_perturbation` and :func:`adversarial_patch` return the one perturbation or
patch they learn for all images, and :func:`jsma` is targeted by default.

=====================  ====================================================================
module                 what it holds
=====================  ====================================================================
``optimize``           :func:`optimize_input`, the lecture's "iguana" problem
``gradient``           :func:`fgsm`, :func:`pgd` (BIM without random start; L∞ and L2)
``apgd``               :func:`apgd` (APGD-CE), :func:`apgd_t` (APGD-T), :func:`dlr_loss`:
                       PGD that picks its own step size (Croce & Hein 2020)
``square``             :func:`square`, the score-based Square attack (Andriushchenko et al.)
``autoattack``         :func:`autoattack`: APGD-CE, APGD-T and Square on the survivors
``deepfool``           :func:`deepfool` and the ρ_adv measure :func:`rho_adv`
``cw``                 :func:`cw_l2`, Carlini–Wagner L2 with binary search over c
``jsma``               :func:`jsma`, the saliency-map attack that changes few pixels
``blackbox``           :class:`QueryCounter`, :func:`finite_difference_attack`, :func:`spsa`,
                       :func:`transfer_rates`
``universal``          :func:`universal_perturbation`, :func:`fooling_rate`
``spatial``            :func:`spatial_attack` (rotation/translation grid), :func:`eot_pgd`
                       (EOT over random transformations or a randomised model's own noise)
``patch``              :func:`adversarial_patch`, :func:`patch_success_rate`
``imagenet``           the cat → iguana demo on a torchvision ImageNet classifier
=====================  ====================================================================
"""
from .apgd import apgd, apgd_t, dlr_loss
from .autoattack import AutoAttackResult, autoattack, square_only
from .blackbox import (QueryBudgetExceeded, QueryCounter, fd_gradient, finite_difference_attack,
                       margin_loss, spsa, spsa_gradient, transfer_rates)
from .cw import cw_l2
from .deepfool import deepfool, rho_adv
from .gradient import fgsm, pgd
from .jsma import jsma
from .optimize import optimize_input
from .patch import adversarial_patch, apply_patch, patch_success_rate
from .spatial import (eot_pgd, no_transform, random_rotate_translate, rotate_translate,
                      spatial_attack, survival_rate)
from .square import square
from .universal import apply_perturbation, fooling_rate, universal_perturbation

__all__ = [
    "AutoAttackResult", "apgd", "apgd_t", "autoattack", "dlr_loss", "square", "square_only",
    "QueryBudgetExceeded", "QueryCounter", "adversarial_patch", "apply_patch",
    "apply_perturbation", "cw_l2", "deepfool", "eot_pgd", "fd_gradient", "fgsm",
    "finite_difference_attack", "fooling_rate", "jsma", "margin_loss", "no_transform",
    "optimize_input",
    "patch_success_rate", "pgd", "random_rotate_translate", "rho_adv", "rotate_translate",
    "spatial_attack", "spsa", "spsa_gradient", "survival_rate", "transfer_rates",
    "universal_perturbation",
]
