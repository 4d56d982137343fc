"""Ensembles: several classifiers voting as one.

Averaging models is one of the defenses of the lecture that did not hold up: an attacker
who knows the members attacks the average itself, which is just another differentiable
network (Tramèr et al. 2018, "Ensemble Adversarial Training", and He et al. 2017,
"Adversarial Example Defenses: Ensembles of Weak Defenses are not Strong"). Transfer from a
single member is weaker, which is what made ensembles look robust.

:class:`Ensemble` is an ``nn.Module``, so every attack of ``coursekit.attacks`` runs on it
unchanged. Two ways to combine M members with logits z^(m):

* ``"logits"``: z̄ = (1/M) Σ_m z^(m);
* ``"probs"``: log p̄ with p̄ = (1/M) Σ_m softmax(z^(m)); returned as log-probabilities so that
  cross-entropy and arg-max act on the averaged probabilities.
"""
from __future__ import annotations

import math

import torch
from torch import nn

COMBINE = ("logits", "probs")


class Ensemble(nn.Module):
    """Average of ``models`` (each maps images (N, C, H, W) to logits (N, K)), as one model."""

    def __init__(self, models, combine: str = "logits"):
        super().__init__()
        models = list(models.values()) if isinstance(models, dict) else list(models)
        if not models or not all(isinstance(m, nn.Module) for m in models):
            raise ValueError(f"models must be a non-empty list of nn.Module, got {models!r}")
        if combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, got {combine!r}")
        self.members = nn.ModuleList(models)
        self.combine = combine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.stack([m(x) for m in self.members])                       # (M, N, K)
        if self.combine == "logits":
            return z.mean(0)
        return torch.logsumexp(z.log_softmax(-1), 0) - math.log(len(self.members))
