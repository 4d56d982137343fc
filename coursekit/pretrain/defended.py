"""The shipped defended classifiers of notebook 02: how each is trained and measured. The
algorithms are in :mod:`coursekit.defenses` (:func:`~coursekit.defenses.train_defended`,
:func:`~coursekit.defenses.train_ibp`); here are only their recipes.

"mnist-cnn-robust" (:data:`ROBUST_RECIPES`) is fast adversarial training of the small CNN of
Wong & Kolter 2018. Three of the :data:`VARIANTS` are its recipe (fast FGSM at ε = 0.35
ramped up over the first quarter of 12 epochs, Adam with a one-cycle rate peaking at 5e-3,
batches of 100) with one thing changed, so that their curves and figures compare like with
like; PGD training follows Madry et al. at ε = 0.3 and costs so much more per epoch that it
gets 10 epochs:

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

"mnist-cnn-trades" is the course's robust model, the one that holds under AutoAttack: TRADES
(Zhang et al. 2019) on the small CNN made twice as wide, its inner attack started at a uniform
random point of the ε-ball (Madry et al.'s start), chosen among the candidates of
``python -m tools.robust_recipes`` on held-out training digits. Its PGD-50×10 and AutoAttack
accuracy on all 10,000 test digits come from ``python -m coursekit.defenses.robustness``.

Each records its per-epoch held-out curve (clean, FGSM, PGD-10 at ε = 0.3 on the last 500
training digits, which it never trains on), clean accuracy on the full test set, and accuracy
under PGD-50 with 10 restarts (α = 0.01, Wong et al. 2020's evaluation), counted over
survivors. "mnist-certified" (:data:`CERTIFIED_RECIPES`) is trained with IBP (Gowal et al.
2018) and records its certified accuracy.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from ..attacks import fgsm, pgd
from ..data import mnist
from ..defenses.adversarial import AdvRecipe, accuracy_under_attack, robust_accuracy
from ..defenses.certified_training import train_ibp
from ..defenses.certify import certified_accuracy
from ..defenses.robust_model import train_defended
from ..defenses.scoreboard import Defense, accuracy_with_restarts
from ..models import build
from ..train import accuracy
from .preamble import Run, timed

# name -> (architecture, its arguments, recipe, ε it is evaluated at). "mnist-cnn-robust" is
# fast adversarial training (Wong et al. 2020: FGSM from a random start, α = 1.25·ε) of their
# small MNIST network, with three changes: ε ramps up over the first quarter of training;
# training uses ε = 0.35, a margin above the 0.3 it is evaluated at (as Gowal et al. 2018 train
# IBP at 0.4 for 0.3; trained at 0.3, the recipe reached about 4 points less PGD-50×10 accuracy
# on test digits); and the epoch with the best held-out PGD accuracy is kept (early stopping,
# Wong et al. §5.3), a guard against catastrophic overfitting, which struck in probes at
# ε = 0.4 and at lr 2e-3.
ROBUST_RECIPES = {
    "mnist-cnn-robust": ("mnist-cnn-small", {},
                         AdvRecipe(attack="fast", eps=0.35, alpha=1.25 * 0.35, eps_ramp=0.25,
                                   epochs=12, lr=5e-3, batch_size=100),
                         0.3),
    "mnist-cnn-trades": ("mnist-cnn-small", {"c1": 32, "c2": 64, "hidden": 128},
                         AdvRecipe(attack="trades-uniform", loss="trades", lam=6.0, eps=0.3,
                                   alpha=0.075, steps=10, eps_ramp=0.2, epochs=16, lr=5e-3,
                                   batch_size=100),
                         0.3),
}
# How each robust recipe is trained and measured besides its recipe (same keys): held-out
# training digits for the per-epoch curve, early stopping, APGD-CE steps in that curve, and test
# digits for PGD-50×10 (0: left to `python -m coursekit.defenses.robustness`, which runs it and
# AutoAttack on all 10,000). "mnist-cnn-trades" is the candidate "trades-wide-16-uniform" of
# tools/robust_recipes.py with its 1,000 held-out digits, trained on two threads (the candidate
# had one; on one thread its 16 epochs take over 30 minutes); TRADES does not overfit
# catastrophically, so it ships its last epoch.
ROBUST_TRAINING = {
    "mnist-cnn-robust": {"n_val": 500, "keep_best": True, "eval_apgd_steps": None, "n_pgd": 10_000},
    "mnist-cnn-trades": {"n_val": 1000, "keep_best": False, "eval_apgd_steps": 25, "n_pgd": 0},
}

ARCH = "mnist-cnn-small"  # of every variant
EPS = 0.3                 # every variant is evaluated at ε = 0.3
_FAST = dict(attack="fast", eps=0.35, alpha=1.25 * 0.35, eps_ramp=0.25, epochs=12, lr=5e-3,
             batch_size=100)
VARIANTS = {
    "mnist-cnn-fgsm": AdvRecipe(**{**_FAST, "attack": "fgsm"}),
    "mnist-cnn-alp": AdvRecipe(**{**_FAST, "loss": "alp", "lam": 0.5}),
    "mnist-cnn-mixed": AdvRecipe(**{**_FAST, "loss": "mixed", "lam": 1.0}),
    "mnist-cnn-pgd": AdvRecipe(attack="pgd", eps=0.3, alpha=0.075, steps=10, eps_ramp=0.2,
                               epochs=10, lr=5e-3, batch_size=100),
}
N_EVAL = 1_000          # variants: digits for PGD-50×10 (10,000 would take ~10× as long)
N_REPEAT = 200          # variants: PGD-50 with one start on these, which a test measures again
QUICK_DEFENDED = (500, 50)  # quick mode: training digits, test digits

# The shipped certified model: name -> (architecture, its arguments, train_ibp arguments, ε tested).
CERTIFIED_RECIPES = {
    "mnist-certified": ("mnist-cnn-small", {},
                        {"eps": 0.2, "epochs": 15, "lr": 1e-3, "batch_size": 100, "warmup": 0.05,
                         "ramp_length": 0.5, "kappa_end": 0.5}, 0.1),
}


def _adversarially_trained(run: Run, recipe: AdvRecipe, arch: str, kwargs: dict, eps: float,
                           keep_best: bool = False, n_val: int = 500,
                           eval_apgd_steps: int | None = None):
    """Train ``recipe`` with :func:`train_defended` (quick: on 500 digits); print and return the
    run and its held-out curve rows (epoch, training ε, clean, FGSM, PGD-10 at ``eps``, and
    APGD-CE with ``eval_apgd_steps``) on the last ``n_val`` training digits."""
    with run.timed():
        trained = train_defended(recipe, arch=arch, arch_kwargs=kwargs, seed=run.seed,
                                 n_train=run.size(None, QUICK_DEFENDED[0]), n_val=n_val,
                                 eval_eps=eps, keep_best=keep_best, eval_apgd_steps=eval_apgd_steps)
    keys = ["clean_acc", "fgsm_acc", "pgd_acc"] + (["apgd_acc"] if eval_apgd_steps else [])
    curve = [[r["epoch"], round(r["eps"], 4), *(round(r[k], 4) for k in keys)]
             for r in trained.history]
    print(f"held-out curve (ε = {eps}): epoch, training ε, clean, FGSM, PGD-10"
          + (f", APGD-CE-{eval_apgd_steps}" if eval_apgd_steps else ""))
    for row, record in zip(curve, trained.history):
        print("  " + "  ".join(f"{v:.4g}" for v in row) + ("  <- kept" if keep_best and record["kept"] else ""))
    return trained, curve


def _adversarial_figures(recipe: AdvRecipe, eps: float, n_eval: int, seed: int, curve: list,
                         train_seconds: float, eval_seconds: float, n_val: int = 500,
                         eval_apgd_steps: int | None = None) -> dict:
    """The manifest figures every adversarially trained model records besides its accuracies."""
    columns = ["epoch", "training ε", "clean", f"FGSM at ε = {eps}",
               f"PGD-10 at ε = {eps} (α = 2.5ε/10, 1 start)"]
    if eval_apgd_steps:
        columns.append(f"APGD-CE-{eval_apgd_steps} at ε = {eps}")
    return {
        **({"pgd_eval": {"eps": eps, "steps": 50, "alpha": 0.01, "restarts": 10, "n_test": n_eval,
                         "seed": seed, "what": "L∞ PGD from uniform random starts; an example "
                                               "counts as broken when any restart fools the model"}}
           if n_eval else {}),
        "robust_curve": curve,
        "robust_curve_columns": columns,
        "robust_curve_on": f"the last {n_val} MNIST training digits (held out from training)",
        "recipe": asdict(recipe),
        # the training loop's own clock, which leaves out the held-out curve (the CPU time keeps it)
        "train_seconds": round(train_seconds, 1), "eval_seconds": round(eval_seconds, 1),
    }


def pretrain_robust(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train robust recipe ``name``, measure it, and record it in the pretrained manifest.

    Measured and recorded, all at the evaluation ε: the held-out curve per epoch (clean, FGSM,
    PGD-10 and, where :data:`ROBUST_TRAINING` asks, APGD-CE accuracy on the last training
    digits, which it does not train on), clean accuracy on the full test set, PGD-50 with one
    start on the first 500 test digits (the figure tests/test_defenses_robust_model.py
    measures again), accuracy under PGD-50 with 10 random restarts (α = 0.01, Wong et al.
    2020's evaluation) on the test digits :data:`ROBUST_TRAINING` names, and training and
    evaluation seconds. With ``keep_best`` the weights kept are those of the epoch with the
    best held-out PGD accuracy (early stopping). ``quick`` trains one epoch on 500 digits and
    evaluates 50. AutoAttack accuracy is added by ``python -m coursekit.defenses.robustness``.
    """
    arch, kwargs, recipe, eps = ROBUST_RECIPES[name]
    options = ROBUST_TRAINING[name]
    run = Run(name, out, quick, seed)
    recipe = run.shrink(recipe)
    n_pgd = run.size(options["n_pgd"], min(options["n_pgd"], QUICK_DEFENDED[1]))
    trained, curve = _adversarially_trained(run, recipe, arch, kwargs, eps, options["keep_best"],
                                            options["n_val"], options["eval_apgd_steps"])
    x, y = mnist("test").tensors()
    clean = accuracy(trained.model, x, y)
    with timed() as evaluation:
        sub = min(500, run.size(10_000, QUICK_DEFENDED[1]))
        first_one = robust_accuracy(trained.model, x[:sub], y[:sub], eps, restarts=1, seed=seed)
        pgd_figures, said = {}, f"PGD-50 at ε = {eps} on the first {sub} digits {first_one:.2%}"
        if n_pgd:                                 # 0 or every test digit (n_pgd >= sub)
            first_ten = robust_accuracy(trained.model, x[:sub], y[:sub], eps, seed=seed, progress=True)
            rest_ten = robust_accuracy(trained.model, x[sub:n_pgd], y[sub:n_pgd], eps, seed=seed,
                                       progress=True) if n_pgd > sub else first_ten
            full_ten = (first_ten * sub + rest_ten * (n_pgd - sub)) / n_pgd
            pgd_figures = {"pgd50x10_accuracy": round(full_ten, 4),
                           "pgd50x10_accuracy_first500": round(first_ten, 4)}
            said = f"PGD-50×10 at ε = {eps} on {n_pgd} digits {full_ten:.2%}"
    metrics = {
        "test_accuracy": round(clean, 4),
        **pgd_figures,
        "pgd50x1_accuracy_first500": round(first_one, 4),
        **({"kept_epoch": next(r["epoch"] for r in trained.history if r["kept"])}
           if options["keep_best"] else {}),
        **_adversarial_figures(recipe, eps, n_pgd, seed, curve, trained.seconds, evaluation.wall,
                               options["n_val"], options["eval_apgd_steps"]),
    }
    return run.finish(trained.model, arch, kwargs, metrics,
                      f"test set: clean {clean:.2%}; {said} ({evaluation.wall:.0f} s)")


def pretrain_variant(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train variant ``name`` (:data:`VARIANTS`), measure it, and register it in the manifest:
    besides the held-out curve, clean and FGSM accuracy on the full test set, and accuracy
    under PGD-50 with 10 restarts on the first ``N_EVAL`` test digits (and with one start on
    the first ``N_REPEAT``, which a test measures again). ``quick`` trains one epoch on 500
    digits and measures 50 (for tests)."""
    run = Run(name, out, quick, seed)
    recipe = run.shrink(VARIANTS[name])
    n_eval = run.size(N_EVAL, QUICK_DEFENDED[1])
    trained, curve = _adversarially_trained(run, recipe, ARCH, {}, EPS)
    x, y = mnist("test").tensors(run.size(None, n_eval))
    with timed() as evaluation:
        clean = accuracy(trained.model, x, y)
        fgsm_acc = accuracy_under_attack(trained.model, x, y, lambda m, xb, yb: fgsm(m, xb, yb, EPS))
        sub = min(N_REPEAT, n_eval)
        g = torch.Generator().manual_seed(seed)
        one_start = accuracy_under_attack(trained.model, x[:sub], y[:sub],
                                          lambda m, xb, yb: pgd(m, xb, yb, EPS, 0.01, 50, generator=g))
        ten = accuracy_with_restarts(Defense(name, trained.model), x[:n_eval], y[:n_eval], EPS,
                                     alpha=0.01, steps=50, restarts=10,
                                     generator=torch.Generator().manual_seed(seed))
    metrics = {
        "test_accuracy": round(clean, 4), "fgsm_accuracy": round(fgsm_acc, 4),
        "pgd50x10_accuracy": round(ten, 4), f"pgd50x1_accuracy_first{sub}": round(one_start, 4),
        **_adversarial_figures(recipe, EPS, n_eval, seed, curve, trained.seconds, evaluation.wall),
    }
    return run.finish(trained.model, ARCH, {}, metrics,
                      f"test set: clean {clean:.2%}, FGSM {fgsm_acc:.2%}; PGD-50×10 at ε = {EPS} on "
                      f"{n_eval} digits {ten:.2%} ({evaluation.wall:.0f} s)")


def pretrain_certified(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train recipe ``name`` with IBP, measure it on the full MNIST test set, register it.

    Records: clean accuracy; certified accuracy at the tested ε by IBP and by Wong & Kolter;
    accuracy under PGD-40 (α = 2.5ε/40, one random start); the ε/κ schedule and loss per
    epoch. ``quick`` trains 1 epoch on 512 digits and measures 256 (for tests).
    """
    arch, kwargs, train_kwargs, eps = CERTIFIED_RECIPES[name]
    run = Run(name, out, quick, seed)
    x, y, x_test, y_test = run.data()
    model = build(arch, **kwargs)
    with run.timed():
        history = train_ibp(model, x, y, seed=seed, **run.shrink(train_kwargs))
    model.eval()
    clean = accuracy(model, x_test, y_test)
    cert_ibp = certified_accuracy(model, x_test, y_test, eps, method="ibp")
    with timed() as wk:
        cert_wk = certified_accuracy(model, x_test, y_test, eps, method="wong-kolter", progress=True)
    g = torch.Generator().manual_seed(seed)
    pgd_acc = accuracy_under_attack(
        model, x_test, y_test, lambda m, xb, yb: pgd(m, xb, yb, eps, 2.5 * eps / 40, 40, generator=g))
    metrics = {
        "eps": eps, "test_accuracy": round(clean, 4), "certified_accuracy_ibp": round(cert_ibp, 4),
        "certified_accuracy_wong_kolter": round(cert_wk, 4), "pgd40_accuracy": round(pgd_acc, 4),
        "wong_kolter_seconds": round(wk.wall, 1), "epochs": history[-1]["epoch"],
        "history": [{k: round(r[k], 4) for k in ("epoch", "eps", "kappa", "loss", "train_acc")}
                    for r in history],
        "n_test": len(x_test),
    }
    return run.finish(model, arch, kwargs, metrics,
                      f"clean {clean:.2%}, certified at eps={eps}: {cert_ibp:.2%} (IBP), "
                      f"{cert_wk:.2%} (Wong-Kolter, {wk.wall:.0f} s), PGD-40 {pgd_acc:.2%}")
