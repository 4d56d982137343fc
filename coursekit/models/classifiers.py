"""MNIST classifiers. Normalisation is the first layer, so every model takes images in [0, 1]
and attacks can clip to [0, 1] honestly (see COURSE_DESIGN.md, "Conventions").

Neighbours: ``registry.py`` names every architecture (these and the GAN networks) for
:func:`~coursekit.models.build`; ``pretrained.py`` loads the shipped weights."""
from __future__ import annotations

import torch
from torch import nn

from ..validate import check_finite, check_positive

# Mean and standard deviation of the MNIST training pixels (computed from data/mnist).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class Normalize(nn.Module):
    """x ↦ (x − mean) / std, as a layer, so the model's input space is [0, 1]."""

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD):
        super().__init__()
        check_finite("mean", mean)
        check_positive("std", std)
        check_finite("std", std)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    """3×3 conv (same padding), batch norm, ReLU."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class MnistCNN(nn.Sequential):
    """The course's standard classifier ("mnist-cnn"): two VGG-style stages and a small head.

    (N, 1, 28, 28) → 2 convs, pool → (N, c1, 14, 14) → 2 convs, pool → (N, c2, 7, 7) → logits (N, 10).
    ``channels=3`` gives the same network for colour digits ("mnistm-cnn", on MNIST-M).
    """

    def __init__(self, c1: int = 16, c2: int = 32, hidden: int = 128, dropout: float = 0.25,
                 channels: int = 1):
        super().__init__(
            Normalize(),
            *_conv_block(channels, c1), *_conv_block(c1, c1), nn.MaxPool2d(2),   # (N, c1, 14, 14)
            *_conv_block(c1, c2), *_conv_block(c2, c2), nn.MaxPool2d(2),  # (N, c2, 7, 7)
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, 10),
        )


class MnistMLP(nn.Sequential):
    """A fully connected classifier: 784 → hidden → hidden → 10 with ReLU."""

    def __init__(self, hidden: int = 256):
        super().__init__(
            Normalize(), nn.Flatten(),
            nn.Linear(28 * 28, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 10),
        )


class MnistLeNet(nn.Sequential):
    """A LeNet-5-style classifier (LeCun et al. 1998), with ReLU and max pooling: a second CNN,
    different from "mnist-cnn" (5×5 convs, no batch norm), for transfer experiments.

    (N, 1, 28, 28) → conv 5×5, pool → (N, 6, 14, 14) → conv 5×5, pool → (N, 16, 5, 5) → 120 → 84 → 10.
    """

    def __init__(self):
        super().__init__(
            Normalize(),
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),    # (N, 6, 14, 14)
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),              # (N, 16, 5, 5)
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10),
        )


ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU}


class MnistSmallCNN(nn.Sequential):
    """The small CNN of Wong & Kolter 2018 ("Provable defenses ...", MNIST) that Wong, Rice &
    Kolter 2020 ("Fast is better than free") train adversarially: two 4×4 stride-2 convs and one
    hidden layer, no pooling, no batch norm (only Conv2d, ReLU, Flatten, Linear after Normalize).

    (N, 1, 28, 28) → conv 4×4/2 → (N, c1, 14, 14) → conv 4×4/2 → (N, c2, 7, 7) → hidden → logits (N, 10).

    ``activation`` swaps every ReLU for a smooth function ("silu", "elu"), as in Xie et al. 2020
    ("Smooth Adversarial Training"). On MNIST with TRADES both came out far less robust than
    ReLU (``python -m tools.robust_recipes``, data/results/robust_recipes.json).
    """

    def __init__(self, c1: int = 16, c2: int = 32, hidden: int = 100, activation: str = "relu"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        act = ACTIVATIONS[activation]
        super().__init__(
            Normalize(),
            nn.Conv2d(1, c1, 4, stride=2, padding=1), act(),    # (N, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), act(),   # (N, c2, 7, 7)
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, hidden), act(),
            nn.Linear(hidden, 10),
        )
