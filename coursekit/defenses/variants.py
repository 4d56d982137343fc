"""The adversarial-training variants that notebook 02 ships, so that it need not train them.

Three are the recipe of "mnist-cnn-robust" (fast FGSM on the small CNN of Wong & Kolter 2018,
trained at ε = 0.35 ramped up over the first quarter of 12 epochs, Adam with a one-cycle rate
peaking at 5e-3, batches of 100; see ``coursekit.defenses.robust_model.ROBUST_RECIPES``) with
one thing changed, so that their curves and figures compare like with like; PGD training
follows Madry et al. at ε = 0.3 and costs so much more per epoch that it gets 10 epochs:

===================  =======================================  ================================
name                 what changes                             paper
===================  =======================================  ================================
"mnist-cnn-fgsm"     inner attack FGSM from x (step ε)        Goodfellow et al. 2015; shows
                                                              catastrophic overfitting (Wong,
                                                              Rice & Kolter 2020, §5)
"mnist-cnn-alp"      loss ½[L(x) + L(x_adv)] + 0.5·‖Δz‖²      Kannan, Kurakin & Goodfellow 2018
                     (logit pairing), fast-FGSM x_adv         (they pair PGD examples)
"mnist-cnn-mixed"    loss L(x) + 1·L(x_adv), fast-FGSM x_adv  the lecture's L_new
"mnist-cnn-pgd"      inner attack PGD-10, α = 2.5ε/10, at     Madry et al. 2018
                     ε = 0.3 ramped over 20% of 10 epochs
===================  =======================================  ================================

:func:`pretrain_variant` trains one with :func:`~coursekit.defenses.robust_model.train_defended`
and records, besides the per-epoch held-out curve (clean, FGSM, PGD-10 at ε = 0.3 on 500
training digits it never sees), clean and FGSM accuracy on the full test set and accuracy
under PGD-50 with 10 restarts (α = 0.01, Wong et al. 2020's evaluation) on the first
``N_EVAL`` test digits, counted over survivors
(:func:`~coursekit.defenses.scoreboard.accuracy_with_restarts`).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict

import torch

from ..attacks import fgsm, pgd
from ..data import mnist
from ..train import accuracy
from .adversarial import AdvRecipe, accuracy_under_attack
from .robust_model import train_defended
from .scoreboard import Defense, accuracy_with_restarts

ARCH = "mnist-cnn-small"
EPS = 0.3               # every variant is evaluated at ε = 0.3
_FAST = dict(attack="fast", eps=0.35, alpha=1.25 * 0.35, eps_ramp=0.25, epochs=12, lr=5e-3,
             batch_size=100)

VARIANTS = {
    "mnist-cnn-fgsm": AdvRecipe(**{**_FAST, "attack": "fgsm"}),
    "mnist-cnn-alp": AdvRecipe(**{**_FAST, "loss": "alp", "lam": 0.5}),
    "mnist-cnn-mixed": AdvRecipe(**{**_FAST, "loss": "mixed", "lam": 1.0}),
    "mnist-cnn-pgd": AdvRecipe(attack="pgd", eps=0.3, alpha=0.075, steps=10, eps_ramp=0.2,
                               epochs=10, lr=5e-3, batch_size=100),
}
N_EVAL = 1_000          # digits for PGD-50×10 (10,000 would take ~10× as long)
N_REPEAT = 200          # PGD-50 with one start on these, which a test measures again


def pretrain_variant(name: str, out=None, quick: bool = False, seed: int = 0) -> dict:
    """Train variant ``name``, measure it, and register it in the pretrained manifest.

    ``quick`` trains one epoch on 500 digits and measures 50 (for tests). Prints the training
    time and the held-out curve per epoch.
    """
    from ..models.pretrained import register

    recipe = VARIANTS[name]
    n_train, n_eval = (500, 50) if quick else (None, N_EVAL)
    if quick:
        recipe = AdvRecipe(**{**asdict(recipe), "epochs": 1})
    load_start = os.getloadavg()[0]
    run = train_defended(recipe, arch=ARCH, n_train=n_train, seed=seed, eval_eps=EPS)
    x, y = mnist("test").tensors()
    if quick:
        x, y = x[:n_eval], y[:n_eval]
    eps = EPS
    tick = time.perf_counter()
    clean = accuracy(run.model, x, y)
    fgsm_acc = accuracy_under_attack(run.model, x, y, lambda m, xb, yb: fgsm(m, xb, yb, eps))
    sub = min(N_REPEAT, n_eval)
    g = torch.Generator().manual_seed(seed)
    one_start = accuracy_under_attack(run.model, x[:sub], y[:sub],
                                      lambda m, xb, yb: pgd(m, xb, yb, eps, 0.01, 50, generator=g))
    ten = accuracy_with_restarts(Defense(name, run.model), x[:n_eval], y[:n_eval], eps, alpha=0.01,
                                 steps=50, restarts=10, generator=torch.Generator().manual_seed(seed))
    eval_seconds = time.perf_counter() - tick
    curve = [[r["epoch"], round(r["eps"], 4), round(r["clean_acc"], 4), round(r["fgsm_acc"], 4),
              round(r["pgd_acc"], 4)] for r in run.history]
    metrics = {
        "test_accuracy": round(clean, 4), "fgsm_accuracy": round(fgsm_acc, 4),
        "pgd50x10_accuracy": round(ten, 4), f"pgd50x1_accuracy_first{sub}": round(one_start, 4),
        "pgd_eval": {"eps": eps, "steps": 50, "alpha": 0.01, "restarts": 10, "n_test": n_eval,
                     "seed": seed, "what": "L∞ PGD from random starts; a digit counts as broken "
                                           "when any restart breaks it"},
        "robust_curve": curve,
        "robust_curve_columns": ["epoch", "eps", "clean", "FGSM", "PGD-10 (α = 2.5ε/10, 1 start)"],
        "robust_curve_on": "the last 500 MNIST training digits (held out from training)",
        "recipe": asdict(recipe), "train_seconds": round(run.seconds, 1),
        "eval_seconds": round(eval_seconds, 1), "threads": torch.get_num_threads(),
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    path = register(name, run.model, ARCH, {}, metrics, folder=out)
    print(f"{name}: {run.seconds:.0f} s of training on {torch.get_num_threads()} thread(s)")
    print("held-out curve: epoch, ε, clean, FGSM, PGD-10")
    for row in curve:
        print("  " + "  ".join(f"{v:.4g}" for v in row))
    print(f"test set: clean {clean:.2%}, FGSM {fgsm_acc:.2%}; PGD-50×10 at ε = {eps} on {n_eval} "
          f"digits {ten:.2%} ({eval_seconds:.0f} s) -> {path}")
    return metrics
