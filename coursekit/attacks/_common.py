"""What every attack shares: checking its arguments, and leaving the model as it found it."""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..modes import eval_mode  # noqa: F401  (the attacks import it from here)
from ..train import EVAL_BATCH
from ..validate import (LABEL_DTYPES, check_class_labels, check_generator,  # noqa: F401
                        check_images, check_labels, check_model_input, check_nonempty,
                        check_positive)


def check_attack_args(x: torch.Tensor, y: torch.Tensor, eps: float | None = None,
                      model=None) -> None:
    check_images(x)
    check_labels(y, len(x))
    if eps is not None and not (isinstance(eps, numbers.Real) and eps >= 0):
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")
    if model is not None:
        check_model_input(model, x)
    if y.device != x.device:
        raise ValueError(f"y is on {y.device} but x is on {x.device}; put them on one device")


def loss_fn(logits: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """The quantity an attack climbs: CE to the true label, or −CE to the target label.

    Summed over the batch (not averaged), so each example's gradient does not depend on
    how many others share its batch.
    """
    check_class_labels(y, logits.shape[1])
    loss = F.cross_entropy(logits, y.long(), reduction="sum")
    return -loss if targeted else loss


def margin_loss(logits: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per-example margin, (N,), that is < 0 exactly when the attack succeeds.

    Untargeted: Z_y − max_{j≠y} Z_j; targeted: max_{j≠t} Z_j − Z_t, with Z the logits
    (Carlini & Wagner's f₆, also the loss Uesato et al. use for SPSA).
    """
    check_labels(y, len(logits), num_classes=logits.shape[1])
    own = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).max(1).values
    return other - own if targeted else own - other


def input_gradient(model, x: torch.Tensor, y: torch.Tensor,
                   targeted: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """∇_x of :func:`loss_fn` at ``x``, and the logits there.

    Uses ``torch.autograd.grad`` with respect to ``x`` only, so the model's ``.grad``
    fields are never touched.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(loss_fn(logits, y, targeted), x)
    return grad, logits.detach()


def linf_box(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The box {x' : ‖x' − x‖∞ ≤ eps} ∩ [0, 1]^d as its corners (lo, hi): per pixel
    max(x − eps, 0) and min(x + eps, 1). An attack that projects many times computes it once."""
    return (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Π onto {x' : ‖x' − x‖∞ ≤ eps} ∩ [0, 1]^d: clip each pixel to :func:`linf_box`.

    (Both boxes are axis-aligned, so clipping to their intersection is the exact projection; it
    gives the same numbers as clipping to [x − eps, x + eps] and then to [0, 1].)"""
    return torch.clamp(x_adv, *linf_box(x, eps))


def per_example_norm(v: torch.Tensor, p: float = 2) -> torch.Tensor:
    """‖v_i‖_p for each example of a batch, shaped (N,)."""
    return v.flatten(1).norm(p=p, dim=1)


def as_images_shape(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-example vector (N,) to (N, 1, 1, 1) so it broadcasts against images."""
    return v.view(-1, *[1] * (like.ndim - 1))


@torch.no_grad()
def predict_logits(model, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Logits of ``model`` on ``x``, ``batch_size`` images at a time (in the model's current
    mode; no gradients); (0, 0) for an empty batch."""
    return torch.cat([model(xb) for xb in x.split(batch_size)]) if len(x) else \
        torch.zeros(0, 0, device=x.device)


def predict_labels(model, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Arg-max labels of ``model`` on ``x`` (in the model's current mode; no gradients)."""
    return predict_logits(model, x, batch_size).argmax(1) if len(x) else \
        torch.zeros(0, dtype=torch.long, device=x.device)


def is_fooled(pred: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Success per example: the prediction is the target (targeted) or differs from y."""
    return pred == y if targeted else pred != y
