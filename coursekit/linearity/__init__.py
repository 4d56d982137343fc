"""Why adversarial examples exist: the linear explanation, from the board example to deep nets
(notebook 03; Goodfellow, Shlens & Szegedy 2015, "Explaining and Harnessing Adversarial
Examples", §3).

One job per module:

- ``board.py``: the lecture's board example in exact rational arithmetic, and the dimension
  demo ε‖w‖₁ against n behind the widget;
- ``models.py``: the models compared (the resolution experiment's logistic regression, the
  shipped classifiers, small models trained on the spot);
- ``experiments.py``: the experiments on trained models (input resolution, logits along
  FGSM, gradient norm against vulnerability, decision planes);
- ``plots.py``: their figures.

Every public name is re-exported here, so ``from coursekit import linearity as lin`` reaches
all of them.
"""
from .board import (BOARD_B, BOARD_EPS, BOARD_W, BOARD_X, BoardExample, board_example, exact,
                    linear_dimension_demo, linear_output, sign, step_along_sign, step_along_w)
from .experiments import (ResolutionResult, binary_mnist, boundary_distance, decision_plane,
                          first_order_loss_rise, input_gradient_norm, linear_fit_r2,
                          logits_along_fgsm, plane_directions, rank_correlation,
                          resolution_experiment, subsample, vulnerability_table)
from .models import EXTRA_MODELS, LogisticRegression, comparison_models, shipped_classifiers
from .plots import plot_decision_planes, plot_logits_along_fgsm, plot_resolution, plot_vulnerability

__all__ = [
    "BOARD_B", "BOARD_EPS", "BOARD_W", "BOARD_X", "BoardExample", "board_example", "exact",
    "linear_dimension_demo", "linear_output", "sign", "step_along_sign", "step_along_w",
    "ResolutionResult", "binary_mnist", "boundary_distance", "decision_plane",
    "first_order_loss_rise", "input_gradient_norm", "linear_fit_r2", "logits_along_fgsm",
    "plane_directions", "rank_correlation", "resolution_experiment", "subsample",
    "vulnerability_table",
    "EXTRA_MODELS", "LogisticRegression", "comparison_models", "shipped_classifiers",
    "plot_decision_planes", "plot_logits_along_fgsm", "plot_resolution", "plot_vulnerability",
]
