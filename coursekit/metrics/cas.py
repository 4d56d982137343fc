"""Classification Accuracy Score: train on synthetic, test on real.

Ravuri & Vinyals 2019, "Classification Accuracy Score for Conditional Generative Models":
train a classifier only on generated, labelled samples (x̃, ỹ), then report its accuracy
on real held-out data. A generator that drops classes, blurs the class evidence or covers
only part of each class scores low even when its samples look good. It is also the test of
synthetic data released in place of private data: is the synthetic set useful?
"""
from __future__ import annotations

import torch

from ..config import seeded
from ..modes import eval_mode
from ..validate import check_class_labels, check_images, check_labels, check_nonempty, check_positive
from ..models import build
from ..train import accuracy, train_classifier


def classification_accuracy_score(x_fake: torch.Tensor, y_fake: torch.Tensor,
                                  x_real: torch.Tensor, y_real: torch.Tensor,
                                  arch: str = "mnist-cnn", epochs: int = 2, lr: float = 3e-3,
                                  batch_size: int = 128, seed: int = 0,
                                  progress: bool = False, arch_kwargs: dict | None = None) -> float:
    """Accuracy on real (x_real, y_real) of a fresh ``arch`` (built with ``arch_kwargs``, e.g.
    ``{"channels": 3}`` for colour digits) trained on (x_fake, y_fake).

    The classifier starts from a seeded random initialisation and is trained on the inputs'
    device; no input is modified, and the caller's random state is left as it was (the seeding
    happens inside :func:`coursekit.config.seeded`).
    """
    check_images(x_fake, "x_fake")
    check_nonempty(x_fake, "x_fake")
    check_labels(y_fake, len(x_fake), "y_fake")
    check_images(x_real, "x_real")
    check_nonempty(x_real, "x_real")
    check_labels(y_real, len(x_real), "y_real")
    check_positive("batch_size", batch_size, integer=True)
    with seeded(seed):              # initial weights and dropout draw from the global RNG
        model = build(arch, **(arch_kwargs or {})).to(x_fake.device)
        with torch.no_grad(), eval_mode(model):       # eval: no dropout, so no random draw
            classes = model(x_fake[:1]).shape[1]
        check_class_labels(y_fake, classes, "y_fake")
        check_class_labels(y_real, classes, "y_real")
        train_classifier(model, x_fake, y_fake.long(), epochs=epochs, lr=lr,
                         batch_size=batch_size, seed=seed, progress=progress)
    return accuracy(model, x_real, y_real.long())
