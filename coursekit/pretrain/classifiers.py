"""The shipped classifiers, trained the ordinary way by :func:`coursekit.train.train_classifier`:
the three MNIST architectures of notebooks 00-02 and "mnistm-cnn", the course CNN for colour
digits trained on MNIST-M, the judge of MNIST → MNIST-M translations in notebook 06 (as
"mnist-cnn" judges the way back). Each records its test accuracy on the whole test set.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..data import mnist, mnist_m
from ..models import build
from ..train import accuracy, random_shift, train_classifier
from .preamble import Run


class ClassifierRecipe(NamedTuple):
    """Architecture, its arguments, the :func:`train_classifier` arguments, and the data."""
    arch: str
    kwargs: dict
    train: dict
    data: str = "MNIST"


DATASETS = {"MNIST": mnist, "MNIST-M": mnist_m}

RECIPES = {
    "mnist-cnn": ClassifierRecipe("mnist-cnn", {}, {"epochs": 6, "lr": 3e-3, "batch_size": 128,
                                                    "augment": random_shift}),
    "mnist-mlp": ClassifierRecipe("mnist-mlp", {}, {"epochs": 8, "lr": 2e-3, "batch_size": 128}),
    "mnist-lenet": ClassifierRecipe("mnist-lenet", {}, {"epochs": 5, "lr": 3e-3, "batch_size": 128}),
    "mnistm-cnn": ClassifierRecipe("mnist-cnn", {"channels": 3}, {"epochs": 5, "lr": 3e-3, "batch_size": 128,
                                                                  "augment": random_shift}, "MNIST-M"),
}


def pretrain_classifier(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train classifier recipe ``name`` (:data:`RECIPES`); record its test accuracy."""
    recipe = RECIPES[name]
    run = Run(name, out, quick, seed)
    x, y, x_test, y_test = run.data(DATASETS[recipe.data])
    model = build(recipe.arch, **recipe.kwargs)
    with run.timed():
        history = train_classifier(model, x, y, seed=seed, **run.shrink(recipe.train))
    acc = accuracy(model, x_test, y_test)
    return run.finish(model, recipe.arch, recipe.kwargs,
                      {"test_accuracy": round(acc, 4), "epochs": history[-1]["epoch"]},
                      f"{recipe.data} test accuracy {acc:.2%}")
