"""Argument checks shared by the metrics: feature matrices, probability matrices, floats64."""
from __future__ import annotations

import numpy as np
import torch


def as_float64(x, name: str) -> torch.Tensor:
    """``x`` (tensor or array) as a float64 tensor, on its own device (the CPU for MPS, which
    has no float64). Raises if it holds NaN or ±inf."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.device.type == "mps":
        t = t.cpu()
    t = t.detach().to(torch.float64)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {int((~torch.isfinite(t)).sum())} NaN/inf value(s)")
    return t


def check_features(x, name: str, min_samples: int = 2) -> torch.Tensor:
    """A feature matrix (N, d) with N ≥ ``min_samples``, as float64."""
    t = as_float64(x, name)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a matrix (N, d) of N samples, got shape {tuple(t.shape)}")
    if len(t) < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples, got {len(t)}")
    return t


def check_same_dim(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"{name_a} and {name_b} must have the same feature size, got "
                         f"{a.shape[-1]} and {b.shape[-1]}")


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)
