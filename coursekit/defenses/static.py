"""Adversarial training on a *static* set, the lecture's cheaper idea: forge labelled adversarial
examples once, against a fixed model (:func:`static_adversarial_set`), and train on them with
the clean data (:func:`static_adversarial_training`). The model learns those examples, not
robustness: it never sees examples forged against itself.

Neighbours: adversarial training proper, with the attack rerun against the current model at
every step, is in ``adversarial.py``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..attacks import fgsm, pgd
from ..attacks._common import check_attack_args, check_generator, check_images, check_positive
from ..train import batches, train_classifier


def static_adversarial_set(source: nn.Module, x: torch.Tensor, y: torch.Tensor,
                           attack: str = "fgsm", eps: float = 0.3, alpha: float = 0.01,
                           steps: int = 40, batch_size: int = 500,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial examples forged once against the fixed model ``source`` (labels stay ``y``).

    ``attack`` is "fgsm" (Goodfellow et al. 2015) or "pgd" (``steps`` steps of ``alpha``, random
    start). The set is *static*: a model trained on it never sees examples forged against itself.
    """
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
    check_attack_args(x, y, eps)            # x may live elsewhere: batches go to source's device
    check_positive("batch_size", batch_size, integer=True)
    check_generator(generator)
    device = next(source.parameters()).device
    parts = []
    for idx in batches(len(x), batch_size):
        xb, yb = x[idx].to(device), y[idx].to(device)
        x_adv = fgsm(source, xb, yb, eps) if attack == "fgsm" else \
            pgd(source, xb, yb, eps, alpha, steps, generator=generator)
        parts.append(x_adv.to(x.device))
    return torch.cat(parts)   # (N, C, H, W), like x


def static_adversarial_training(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                                x_adv: torch.Tensor, epochs: int = 3, lr: float = 3e-3,
                                batch_size: int = 128, seed: int = 0,
                                progress: bool = True) -> list[dict]:
    """Ordinary training on the clean digits and a static set of labelled adversarial ones.

    ``x_adv`` (from :func:`static_adversarial_set`) shares the labels ``y``; the model trains
    on the 2N images (x, y) ∪ (x_adv, y) with :func:`coursekit.train.train_classifier`, which
    updates it in place and returns it to the mode it came in.
    """
    check_attack_args(x, y)                 # x may live elsewhere: batches go to model's device
    check_images(x_adv, "x_adv")
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have the shape of x {tuple(x.shape)}, got {tuple(x_adv.shape)}")
    return train_classifier(model, torch.cat([x, x_adv]), torch.cat([y, y]), epochs=epochs, lr=lr,
                            batch_size=batch_size, seed=seed, progress=progress)
