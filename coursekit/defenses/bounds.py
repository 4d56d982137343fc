"""What both certified bounds share: the network as a list of layers, the ε-ball as a box, the
margin specification C, and the checks on their arguments.

Both bounds (:mod:`~coursekit.defenses.ibp` and :mod:`~coursekit.defenses.wong_kolter`) go
through a Linear/Conv2d/ReLU/Flatten network (the course's :class:`~coursekit.models.Normalize`
first layer included) layer by layer; :func:`bound_layers` gives them those layers, or names
the one they cannot go through. Inputs are images in [0, 1], so the ball is clipped to [0, 1]
(``clip=True``): the box is [max(x − ε, 0), min(x + ε, 1)]. Bounds are for the model in eval
mode (dropout off).
"""
from __future__ import annotations

import numbers

import torch
from torch import nn

from ..attacks._common import check_images
from ..models.classifiers import Normalize
from ..validate import check_model_input

AFFINE = (nn.Linear, nn.Conv2d, Normalize)
SUPPORTED = AFFINE + (nn.ReLU, nn.Flatten, nn.Identity, nn.Dropout)


def bound_layers(model: nn.Module) -> list[nn.Module]:
    """The layers of ``model`` (nested ``nn.Sequential`` flattened) that the bounds go through.

    Dropout and Identity are identities in eval mode and are dropped. Anything else that is
    not Linear/Conv2d/ReLU/Flatten/Normalize raises a ValueError naming it.
    """
    if isinstance(model, nn.Sequential):
        return [layer for child in model for layer in bound_layers(child)]
    if not isinstance(model, SUPPORTED):
        raise ValueError(f"cannot bound through a {type(model).__name__} layer; supported: "
                         f"{', '.join(t.__name__ for t in SUPPORTED)} inside nn.Sequential")
    if isinstance(model, nn.Flatten) and (model.start_dim, model.end_dim) != (1, -1):
        raise ValueError(f"only nn.Flatten(start_dim=1, end_dim=-1) is supported, got {model}")
    if isinstance(model, nn.Conv2d) and model.padding_mode != "zeros":
        raise ValueError(f"only zero-padded convolutions are supported, got {model.padding_mode!r}")
    return [] if isinstance(model, (nn.Identity, nn.Dropout)) else [model]


def input_box(x: torch.Tensor, eps: float, clip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The L∞ ball around the images x as a box (lower, upper), clipped to [0, 1] if ``clip``."""
    lower, upper = x - eps, x + eps
    return (lower.clamp(0, 1), upper.clamp(0, 1)) if clip else (lower, upper)


def margin_spec(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """C with C[n, j] = e_{y_n} − e_j, shaped (N, K, K): row j of C·z is the margin z_y − z_j.

    Row j = y is zero (its bound, 0, is ignored by :func:`certify`).
    """
    eye = torch.eye(num_classes, device=y.device)
    return eye[y][:, None, :] - eye[None]                                      # (N, K, K)


def _check_args(x, eps, clip, model=None):
    check_images(x)
    if model is not None:
        check_model_input(model, x)
    if not (isinstance(eps, numbers.Real) and eps >= 0):
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")
    if not isinstance(clip, bool):
        raise ValueError(f"clip must be True or False, got {clip!r}")


def _check_spec(layers, spec, n):
    """A specification C is (N, m, K): one m × K matrix per input, K the number of logits."""
    if spec is None:
        return
    if not isinstance(layers[-1], nn.Linear):
        raise ValueError(f"a specification needs a network ending in nn.Linear, got "
                         f"{type(layers[-1]).__name__}")
    k = layers[-1].out_features
    if not isinstance(spec, torch.Tensor) or spec.ndim != 3 or spec.shape[0] != n or spec.shape[2] != k:
        raise ValueError(f"spec must have shape ({n}, m, {k}) (one m × {k} matrix per input), got "
                         + (f"{tuple(spec.shape)}" if isinstance(spec, torch.Tensor) else type(spec).__name__))
