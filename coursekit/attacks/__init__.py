"""Adversarial attacks. Each has the shape ``attack(model, x, y, ..., targeted=False) -> x_adv``
with x and x_adv in [0, 1]; none changes x or the model (parameters, buffers, train/eval mode)."""
from .gradient import fgsm, pgd

__all__ = ["fgsm", "pgd"]
