"""What every attack shares: checking its arguments, and leaving the model as it found it."""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


def check_images(x: torch.Tensor, name: str = "x") -> None:
    """Images must be a float batch (N, C, H, W) with every pixel in [0, 1]."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of images, got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}")
    if x.numel() and (torch.isnan(x).any() or x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must hold pixels in [0, 1], got values in "
                         f"[{x.min().item():.4g}, {x.max().item():.4g}]"
                         + (" with NaNs" if torch.isnan(x).any() else ""))


def check_labels(y: torch.Tensor, n: int, name: str = "y") -> None:
    """Labels must be an integer tensor with one entry per image."""
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32, torch.int16,
                                                          torch.int8, torch.uint8):
        raise TypeError(f"{name} must be an integer tensor of class labels, got "
                        + (f"dtype {y.dtype}" if isinstance(y, torch.Tensor) else type(y).__name__))
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one label per image, got {tuple(y.shape)}")


def check_attack_args(x: torch.Tensor, y: torch.Tensor, eps: float | None = None) -> None:
    check_images(x)
    check_labels(y, len(x))
    if eps is not None and not (eps >= 0):
        raise ValueError(f"eps must be >= 0, got {eps}")


@contextmanager
def eval_mode(model: nn.Module):
    """Run the block with ``model`` (every submodule) in eval mode; restore each flag after.

    Eval mode freezes batch-norm statistics and switches dropout off, so an attack neither
    changes the model's buffers nor sees a randomised network.
    """
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def loss_fn(logits: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """The quantity an attack climbs: CE to the true label, or −CE to the target label.

    Summed over the batch (not averaged), so each example's gradient does not depend on
    how many others share its batch.
    """
    loss = F.cross_entropy(logits, y.long(), reduction="sum")
    return -loss if targeted else loss


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   targeted: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """∇_x of :func:`loss_fn` at ``x``, and the logits there.

    Uses ``torch.autograd.grad`` with respect to ``x`` only, so the model's ``.grad``
    fields are never touched.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(loss_fn(logits, y, targeted), x)
    return grad, logits.detach()
