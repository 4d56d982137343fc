"""Argument checks shared by every public function of coursekit.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, bad value)
with a message that names the argument, what was expected and what came. Call them at the
public boundary, before any work, so that a mistake surfaces where the student made it and
not as an ``IndexError`` deep inside torch, and so that no bad input can give a result that
only looks right (a label −1 read as class 9, a NaN turned into a number).
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

LABEL_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


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


def check_labels(y: torch.Tensor, n: int, name: str = "y", num_classes: int | None = None) -> None:
    """Labels must be an integer tensor with one entry per image, each ≥ 0 (and below
    ``num_classes`` when it is given)."""
    if not isinstance(y, torch.Tensor) or y.dtype not in LABEL_DTYPES:
        raise TypeError(f"{name} must be an integer tensor of class labels, got "
                        + (f"dtype {y.dtype}" if isinstance(y, torch.Tensor) else type(y).__name__))
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one label per image, got {tuple(y.shape)}")
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"{name} must hold class labels >= 0, got {int(y.min())}")
    if num_classes is not None:
        check_class_labels(y, num_classes, name)


def check_nonempty(x: torch.Tensor, name: str = "x") -> None:
    """The empty-batch policy: a function that returns one result per example gives an empty
    result for an empty batch; one that averages, trains or learns from the batch (a rate, an
    accuracy, a training loop, a universal patch) calls this and refuses it."""
    if not len(x):
        raise ValueError(f"{name} must hold at least one example, got an empty batch")


def check_model_input(model, x: torch.Tensor) -> None:
    """The model's parameters must live on x's device and have x's dtype (when it has any)."""
    param = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
    if param is None:
        return
    if param.device != x.device:
        raise ValueError(f"x is on {x.device} but the model is on {param.device}; "
                         f"move one of them (x.to(device) or model.to(device))")
    if param.dtype != x.dtype:
        raise TypeError(f"x has dtype {x.dtype} but the model's parameters are {param.dtype}; "
                        f"convert one of them (e.g. x.to({param.dtype}) or model.to({x.dtype}))")


def check_positive(name: str, value, integer: bool = False, allow_zero: bool = False) -> None:
    """``value`` must be a number > 0 (>= 0 with ``allow_zero``), an int if ``integer``."""
    ok_type = isinstance(value, numbers.Integral if integer else numbers.Real) and \
        not isinstance(value, bool)
    if not ok_type or not (value >= 0 if allow_zero else value > 0):
        kind = "an int" if integer else "a number"
        raise ValueError(f"{name} must be {kind} {'>=' if allow_zero else '>'} 0, got {value!r}")


def check_generator(generator, name: str = "generator") -> None:
    """A source of randomness must be a ``torch.Generator`` or None (torch's global one).

    A seed passed as an int is refused rather than read as "no generator": make one with
    ``torch.Generator().manual_seed(seed)``."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__} "
                        f"{generator!r}; for a seed s pass torch.Generator().manual_seed(s)")


def check_class_labels(y: torch.Tensor, num_classes: int, name: str = "y") -> None:
    """Every label must index one of ``num_classes`` classes: 0 ≤ y < num_classes."""
    if y.numel() and bool(((y < 0) | (y >= num_classes)).any()):
        raise ValueError(f"{name} must hold class labels in [0, {num_classes - 1}], got values in "
                         f"[{int(y.min())}, {int(y.max())}]")


def check_finite(name: str, value) -> None:
    """A number, or every entry of a tensor, must be finite (no NaN, no ±inf)."""
    if isinstance(value, torch.Tensor):
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} must be finite, got a tensor with "
                             f"{int((~torch.isfinite(value)).sum())} NaN or infinite entries")
    elif not (isinstance(value, numbers.Real) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def as_bools(name: str, values) -> np.ndarray:
    """A 1-d sequence of booleans (True/False, or the numbers 0 and 1) as a bool array.

    Anything else is refused: ``bool("no")`` is True, so strings would read as True."""
    array = np.asarray(values)
    if array.dtype == bool:
        return array
    if array.dtype.kind in "iuf" and np.isin(array, (0, 1)).all():
        return array.astype(bool)
    raise TypeError(f"{name} must hold booleans (True/False or 0/1), got "
                    f"{array.dtype} values such as {array.ravel()[:3].tolist()!r}")
