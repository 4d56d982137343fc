"""A defended MNIST model from a recipe: :func:`train_defended` trains a fresh architecture by
an adversarial-training recipe with a held-out curve. The shipped robust classifier and the
variants of notebook 02 are trained by it from their recipes in :mod:`coursekit.pretrain.defended`
(``python -m coursekit.pretrain mnist-cnn-robust``).

Neighbours: the algorithm (inner attacks, losses, :func:`adversarial_training`,
:func:`robust_accuracy`) is in ``adversarial.py``; the history plot in ``plots.py``.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from torch import nn

from ..attacks._common import check_positive
from ..config import data_dir, seeded
from ..data import mnist
from ..models import build
from .adversarial import RECIPES, AdvRecipe, adversarial_training


class TrainedModel(NamedTuple):
    """What :func:`train_defended` returns: the model (eval mode), its history, training seconds."""
    model: nn.Module
    history: list[dict]
    seconds: float


def train_defended(recipe: str | AdvRecipe = "fast", arch: str = "mnist-cnn-small",
                   n_train: int | None = None, n_val: int = 500, seed: int = 0,
                   progress: bool = True, arch_kwargs: dict | None = None,
                   eval_eps: float | None = None, keep_best: bool = False,
                   eval_apgd_steps: int | None = None, **changes) -> TrainedModel:
    """Train a fresh ``arch`` on MNIST by ``recipe`` (a name in RECIPES, or an AdvRecipe).

    ``changes`` override recipe fields (``epochs=2``, ``steps=7``, ...). The model trains on
    the first ``n_train`` training digits (all but the held-out ones by default) and is
    evaluated after every epoch on the last ``n_val`` training digits, which it never sees,
    at ``eval_eps`` (default: the recipe's ε); ``keep_best`` restores the epoch where that
    PGD accuracy was highest (early stopping, see :func:`adversarial_training`);
    ``eval_apgd_steps`` adds APGD-CE accuracy with that many steps to each epoch's record.

    >>> run = train_defended("fgsm", epochs=3)        # doctest: +SKIP
    >>> [r["pgd_acc"] for r in run.history]           # catastrophic overfitting: → 0
    """
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {sorted(RECIPES)} or an AdvRecipe, "
                             f"got {recipe!r}")
        recipe = RECIPES[recipe]
    recipe = replace(recipe, **changes)
    x, y = mnist("train").tensors()
    check_positive("n_val", n_val, integer=True)
    x_val, y_val = x[-n_val:], y[-n_val:]
    n_max = len(x) - n_val
    if n_train is not None and not (isinstance(n_train, int) and 0 < n_train <= n_max):
        raise ValueError(f"n_train must be an int in 1..{n_max}, got {n_train!r}")
    x, y = x[:n_train or n_max], y[:n_train or n_max]
    with seeded(seed):                      # reproducible, and the caller's RNG left alone
        model = build(arch, **(arch_kwargs or {}))
        history = adversarial_training(model, x, y, recipe, x_val=x_val, y_val=y_val,
                                       eval_eps=eval_eps, seed=seed, progress=progress,
                                       keep_best=keep_best, eval_apgd_steps=eval_apgd_steps)
    return TrainedModel(model.eval(), history, history[-1]["seconds"])


def recipe_record_path() -> Path:
    """Where ``python -m tools.robust_recipes`` records the candidate recipes it measured for
    the shipped robust model: ``data/results/robust_recipes.json``."""
    return data_dir() / "results" / "robust_recipes.json"


def load_recipe_record(path: Path | None = None) -> dict:
    """The stored candidate recipes (default :func:`recipe_record_path`): under "candidates",
    each one's recipe, architecture, training time, per-epoch history and held-out figures."""
    path = Path(path or recipe_record_path())
    if not path.is_file():
        raise FileNotFoundError(f"no recipe record at {path}; `python -m tools.robust_recipes` makes it")
    return json.loads(path.read_text())
