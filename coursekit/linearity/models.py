"""The models that notebook 03 compares: the logistic regression of the resolution experiment,
the shipped MNIST classifiers, and small models trained on the spot when too few ship.

Neighbours: the experiments run on these models are in ``experiments.py``, their figures in
``plots.py``, the exact board arithmetic in ``board.py``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..attacks._common import eval_mode
from ..data import mnist
from ..models import available, load_pretrained
from ..models.classifiers import Normalize
from ..train import train_classifier


class LogisticRegression(nn.Module):
    """P(y = 1 | x) = σ(wᵀx + b) on (N, 1, size, size) images, returned as two logits (0, wᵀx + b)
    so that cross-entropy on them is exactly the logistic loss and attacks apply unchanged."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.linear = nn.Linear(size * size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x.flatten(1))                   # (N, 1)
        return torch.cat([torch.zeros_like(z), z], 1)   # (N, 2)

    @property
    def w(self) -> torch.Tensor:
        return self.linear.weight.detach().flatten()    # (size²,)


def _is_classifier(model: nn.Module, device) -> bool:
    """A shipped MNIST classifier maps (1, 1, 28, 28) images to (1, 10) logits; generators
    (``latent_dim``) and translators (``g_ab``) are not classifiers."""
    if hasattr(model, "latent_dim") or hasattr(model, "g_ab"):
        return False
    try:
        with torch.no_grad(), eval_mode(model):
            out = model(torch.zeros(1, 1, 28, 28, device=device))
    except RuntimeError:  # shape mismatch: the model takes something else
        return False
    return isinstance(out, torch.Tensor) and tuple(out.shape) == (1, 10)


def shipped_classifiers(device=None, defended: bool = False) -> dict[str, nn.Module]:
    """The pretrained MNIST classifiers that ``coursekit.models.available()`` lists now,
    trained the ordinary way; ``defended=True`` adds the adversarially trained and certified
    ones of notebook 02 (``coursekit.defenses.DEFENDED_MODELS``), which are far less linear
    around the data, by design."""
    from ..defenses import DEFENDED_MODELS  # lazy: the defenses build on this package's attacks
    models = {}
    for name in available():
        if name in DEFENDED_MODELS and not defended:
            continue
        model = load_pretrained(name, device=device)
        if _is_classifier(model, device):
            models[name] = model
    return models


def _softmax_regression() -> nn.Module:
    return nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(28 * 28, 10))


def _small_mlp() -> nn.Module:
    return nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 10))


# Models trained here when fewer classifiers ship: (name, constructor, epochs, learning rate).
EXTRA_MODELS: list[tuple[str, Callable[[], nn.Module], int, float]] = [
    ("softmax-regression (trained here)", _softmax_regression, 2, 0.01),
    ("small-mlp (trained here)", _small_mlp, 2, 0.003),
]


def comparison_models(min_models: int = 3, n_train: int = 10_000, seed: int = 0,
                      device=None) -> dict[str, nn.Module]:
    """The shipped classifiers, topped up with small models trained on the spot (first
    ``n_train`` training digits, a few seconds each) until there are ``min_models``."""
    models = shipped_classifiers(device)
    most = len(models) + len(EXTRA_MODELS)
    if not (isinstance(min_models, int) and 1 <= min_models <= most):
        raise ValueError(f"min_models must be an int in 1..{most}, got {min_models!r}")
    extras = iter(EXTRA_MODELS)
    while len(models) < min_models:
        name, make, epochs, lr = next(extras)
        x, y = mnist("train").tensors(n_train)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = make().to(device)
            train_classifier(model, x, y, epochs=epochs, lr=lr, seed=seed, progress=False)
        models[name] = model.eval()
    return models
