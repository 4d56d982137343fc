"""The sizes of the survey's full run and its quick version, and which settings each experiment
depends on (a stored experiment is kept while they are unchanged).

Neighbours in ``coursekit/attacks/survey/``: the experiments are in ``experiment.py``, the run
that uses these settings in ``run.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

MODELS = ("mnist-cnn", "mnist-lenet", "mnist-mlp")   # the pretrained classifiers the run loads


@dataclass(frozen=True)
class SurveyConfig:
    """Sizes of every experiment (digits are the first n of the MNIST test set)."""

    n_classes: int = 10_000         # FGSM at ε = 0.25 and its controls: which class do images go to?
    n_curve: int = 1_000            # accuracy against ε
    eps_grid: tuple = (0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)
    n_targeted: int = 500
    targeted_eps: tuple = (0.05, 0.1, 0.2, 0.3)
    steps: int = 40
    n_restarts: int = 1_000
    n_deepfool: int = 500
    n_cw: int = 50
    cw_steps: int = 200
    cw_search: int = 6
    n_jsma: int = 100
    n_query: int = 50
    query_budgets: tuple = (500, 1000, 2000, 5000)
    n_fd: int = 30
    n_transfer: int = 500
    transfer_eps: tuple = (0.2, 0.3)
    n_universal_fit: int = 500
    n_universal_new: int = 2_000
    universal_passes: int = 3
    n_spatial: int = 150
    n_eot: int = 200
    patch_steps: int = 400
    n_patch_eval: int = 2_000


# the settings each experiment depends on: a stored experiment is kept when these are unchanged
SETTINGS = {"classes_at_0.25": ("n_classes",), "curves": ("n_curve", "eps_grid", "steps"),
            "targeted": ("n_targeted", "targeted_eps", "steps"), "restarts": ("n_restarts",),
            "deepfool_cw": ("n_deepfool", "n_cw", "cw_steps", "cw_search"), "jsma": ("n_jsma",),
            "query": ("n_query", "query_budgets", "n_fd"), "transfer": ("n_transfer", "transfer_eps", "steps"),
            "universal": ("n_universal_fit", "n_universal_new", "universal_passes"), "spatial": ("n_spatial",),
            "eot": ("n_eot",), "patch": ("patch_steps", "n_patch_eval")}

FULL = SurveyConfig()
QUICK = SurveyConfig(n_classes=200, n_curve=50, eps_grid=(0.0, 0.05, 0.1), n_targeted=30, targeted_eps=(0.1,), steps=10,
                     n_restarts=50, n_deepfool=50, n_cw=5, cw_steps=30, cw_search=2, n_jsma=4, n_query=5,
                     query_budgets=(500,), n_fd=2, n_transfer=50, transfer_eps=(0.2,), n_universal_fit=30,
                     n_universal_new=100, universal_passes=1, n_spatial=20, n_eot=10, patch_steps=10,
                     n_patch_eval=100)
