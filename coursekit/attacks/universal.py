"""Universal adversarial perturbations: one small v that fools the model on most images.

Moosavi-Dezfooli, Fawzi, Fawzi & Frossard 2017, "Universal adversarial perturbations",
Algorithm 1. Go through the images in turn; whenever x_i + v is still classified as x_i was,
find the smallest extra Δv_i that changes the label of x_i + v (DeepFool) and fold it in,
projecting back onto the ball ‖v‖_p ≤ ξ:

    v ← P_{p,ξ}(v + Δv_i)

and repeat passes over the data until the fooling rate, the share of images whose label
changes, reaches 1 − δ (or ``max_passes`` passes are done). Images are kept in [0, 1] by
clipping x + v.
"""
from __future__ import annotations

import torch

from ._common import check_images, check_model_input, check_positive, eval_mode, predict_labels
from ..validate import check_finite
from .deepfool import deepfool

NORMS = ("linf", "l2")


def _project(v: torch.Tensor, xi: float, norm: str) -> torch.Tensor:
    """P_{p,ξ}: the nearest point of the L∞ or L2 ball of radius ξ."""
    if norm == "linf":
        return v.clamp(-xi, xi)
    return v * (xi / v.norm().clamp_min(1e-12)).clamp(max=1.0)


def apply_perturbation(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """x + v clipped to [0, 1] (v broadcasts over the batch)."""
    check_images(x)
    check_finite("v", v)
    if v.shape not in (x.shape, x.shape[1:], (1, *x.shape[1:])):
        raise ValueError(f"v must have the shape of one image {tuple(x.shape[1:])} (or of x), "
                         f"got {tuple(v.shape)}")
    return (x + v).clamp(0, 1)


def fooling_rate(model, x: torch.Tensor, v: torch.Tensor) -> float:
    """Share of images whose predicted label changes when v is added (the paper's measure)."""
    check_images(x)
    check_finite("v", v)
    with eval_mode(model):
        before = predict_labels(model, x)
        after = predict_labels(model, apply_perturbation(x, v))
    return (before != after).float().mean().item()


def universal_perturbation(model, x: torch.Tensor, xi: float = 0.2, norm: str = "linf",
                           delta: float = 0.2, max_passes: int = 5, overshoot: float = 0.02,
                           max_iter: int = 10, generator: torch.Generator | None = None
                           ) -> torch.Tensor:
    """A perturbation v of shape (1, C, H, W), ‖v‖_p ≤ ``xi``, that fools most of ``x``.

    Labels are the model's own predictions on x (no y is needed). Stops once the fooling
    rate on x reaches ``1 − delta`` or after ``max_passes`` passes, each over the images in
    a random order drawn from ``generator``. ``overshoot`` and ``max_iter`` go to DeepFool.
    The paper uses ξ = 2,000 (L2) or 10 (L∞) on 0..255 ImageNet pixels and δ = 0.2.
    """
    check_images(x)
    check_model_input(model, x)
    check_positive("xi", xi)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if not (isinstance(delta, (int, float)) and 0 <= delta < 1):
        raise ValueError(f"delta must be a number in [0, 1), got {delta!r}")
    check_positive("max_passes", max_passes, integer=True)
    x = x.detach()
    v = torch.zeros_like(x[:1])
    with eval_mode(model):
        labels = predict_labels(model, x)
        for _ in range(max_passes):
            for i in torch.randperm(len(x), generator=generator).tolist():
                xi_v = apply_perturbation(x[i:i + 1], v)
                if predict_labels(model, xi_v).item() != labels[i].item():
                    continue
                x_df = deepfool(model, xi_v, labels[i:i + 1], overshoot=overshoot,
                                max_iter=max_iter)
                v = _project(v + (x_df - xi_v), xi, norm)
            if fooling_rate(model, x, v) >= 1 - delta:
                break
    return v
