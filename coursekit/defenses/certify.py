"""Certified robustness: x is *certified* at ε when no input in its ε-ball changes the prediction.

An attack finds some bad points of the ball B(x, ε) = {x' : ‖x' − x‖∞ ≤ ε}; a certificate
proves there are none. Both bounds of the course bound every pre-activation ẑ_i of the
network over the whole ball, layer by layer, and then bound the *margins* z_y − z_j of the
logits. If every margin's lower bound is > 0, no x' in the ball changes the prediction: x is
certified at ε (and certainly classified correctly). This module turns either bound into that
answer: :func:`margin_lower_bounds`, :func:`certify`, :func:`certified_accuracy`.

=================  ==========================================================================
module             what it holds
=================  ==========================================================================
``bounds``         the network as a list of layers, the ε-ball as a box, the margin spec C
``ibp``            interval bound propagation (Gowal et al. 2018): :func:`interval_bounds`
``wong_kolter``    the dual network of Wong & Kolter 2018: :func:`wong_kolter_bounds`
``certify``        margins, certification and the certified share (``method="ibp"`` or
                   ``"wong-kolter"``)
=================  ==========================================================================

The names of the other three are importable from here too, as they were when this module
held all four.
"""
from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks._common import eval_mode, predict_labels
from ..validate import check_labels, check_positive
from .bounds import AFFINE, SUPPORTED, _check_args, bound_layers, input_box, margin_spec
from .ibp import interval_bounds, interval_step, spec_interval
from .wong_kolter import dual_bounds, wong_kolter_bounds

METHODS = ("ibp", "wong-kolter")

__all__ = ["AFFINE", "METHODS", "SUPPORTED", "bound_layers", "certified_accuracy", "certify", "dual_bounds",
           "input_box", "interval_bounds", "interval_step", "margin_lower_bounds", "margin_spec",
           "spec_interval", "wong_kolter_bounds"]


def margin_lower_bounds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                        method: str = "ibp", clip: bool = True) -> torch.Tensor:
    """Lower bounds on z_y − z_j over the ball, (N, K), with +inf at j = y."""
    _check_args(x, eps, clip, model)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    layers = bound_layers(model)
    if not isinstance(layers[-1], nn.Linear):
        raise ValueError(f"certification needs a network ending in nn.Linear (the logits), got "
                         f"{type(layers[-1]).__name__}")
    check_labels(y, len(x), num_classes=layers[-1].out_features)
    C = margin_spec(y.long(), layers[-1].out_features)
    bound = interval_bounds if method == "ibp" else wong_kolter_bounds
    lower, _ = bound(model, x, eps, clip=clip, spec=C)
    return lower.masked_fill(C.abs().sum(2) == 0, float("inf"))


def certify(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, method: str = "ibp",
            clip: bool = True, batch_size: int = 500, progress: bool = False) -> torch.Tensor:
    """Per example, True when no x' with ‖x' − x‖∞ ≤ eps (in [0, 1] if ``clip``) can change
    the prediction away from y: every margin's lower bound is > 0. Shape (N,), bool.

    With ``method="wong-kolter"`` the (slower) dual bound is computed only where it can
    change the answer: examples that IBP does not certify already (the intersected bounds
    are never looser) and that the model classifies correctly (else no bound can be > 0).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_positive("batch_size", batch_size, integer=True)
    _check_args(x, eps, clip, model)
    layers = bound_layers(model)
    check_labels(y, len(x), num_classes=getattr(layers[-1], "out_features", None))
    with torch.no_grad():
        ok = torch.cat([(margin_lower_bounds(model, xb, yb, eps, "ibp", clip) > 0).all(1)
                        for xb, yb in zip(x.split(500), y.split(500))]) if len(x) else \
            torch.zeros(0, dtype=torch.bool, device=x.device)
        if method == "ibp":
            return ok
        with eval_mode(model):
            todo = (~ok & (predict_labels(model, x) == y)).nonzero().flatten()
        chunks = todo.split(batch_size) if len(todo) else ()  # split() of nothing gives one empty chunk
        for idx in tqdm(chunks, desc="certify (wong-kolter)", disable=not progress, leave=False):
            ok[idx] = (margin_lower_bounds(model, x[idx], y[idx], eps, method, clip) > 0).all(1)
    return ok


def certified_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                       method: str = "ibp", clip: bool = True, batch_size: int | None = None,
                       progress: bool = False) -> float:
    """Share of examples certified at ``eps`` (a lower bound on accuracy under *any* attack)."""
    if batch_size is None:
        batch_size = 500 if method == "ibp" else 16
    if isinstance(x, torch.Tensor) and len(x) == 0:
        raise ValueError("x must hold at least one example: the certified share of none is undefined")
    return certify(model, x, y, eps, method, clip, batch_size, progress).float().mean().item()
