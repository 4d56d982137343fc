"""Interval bound propagation (IBP; Gowal et al. 2018, "On the Effectiveness of Interval Bound
Propagation for Training Verifiably Robust Models", eq. 6): bounds on a network's outputs over
the whole ε-ball, one box per layer.

A box [l, u] has centre μ = (u + l)/2 and radius r = (u − l)/2; through an affine layer
z ↦ Wz + b it becomes

    μ' = W μ + b,        r' = |W| r,

and through the monotone ReLU, [relu(l), relu(u)]. For the margins the last layer is folded
into the specification ("elision", Gowal et al.): c^T(W z + b) with c = e_y − e_j is one
affine map, bounded at once rather than through two separate intervals. A single Linear
layer is bounded exactly.

Neighbours: the layers and the box are in :mod:`~coursekit.defenses.bounds`, the tighter
dual bound in :mod:`~coursekit.defenses.wong_kolter`, certification in
:mod:`~coursekit.defenses.certify`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .bounds import _check_args, _check_spec, bound_layers, input_box


def _abs_affine(layer: nn.Module, r: torch.Tensor) -> torch.Tensor:
    """|W| r for an affine layer (the radius of the image of a box; no bias)."""
    if isinstance(layer, nn.Linear):
        return F.linear(r, layer.weight.abs())
    if isinstance(layer, nn.Conv2d):
        return F.conv2d(r, layer.weight.abs(), None, layer.stride, layer.padding,
                        layer.dilation, layer.groups)
    return r / layer.std.abs()                                                 # Normalize


def interval_step(layer: nn.Module, lower: torch.Tensor, upper: torch.Tensor):
    """One layer of IBP (Gowal et al., eq. 6): the box [lower, upper] mapped through ``layer``."""
    if isinstance(layer, nn.ReLU):
        return lower.clamp_min(0), upper.clamp_min(0)
    if isinstance(layer, nn.Flatten):
        return lower.flatten(1), upper.flatten(1)
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    mid, rad = layer(mid), _abs_affine(layer, rad)
    return mid - rad, mid + rad


def spec_interval(last: nn.Linear, C: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor):
    """Bounds of C (W z + b) over the box z ∈ [lower, upper], the last layer elided into C."""
    W = C @ last.weight                                                        # (N, m, H)
    b = C @ last.bias if last.bias is not None else 0
    mid, rad = (upper + lower) / 2, (upper - lower) / 2                        # (N, H)
    mid = (W @ mid[:, :, None]).squeeze(2) + b                                 # (N, m)
    rad = (W.abs() @ rad[:, :, None]).squeeze(2)
    return mid - rad, mid + rad


def interval_bounds(model: nn.Module, x: torch.Tensor, eps: float, clip: bool = True,
                    spec: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """IBP bounds (lower, upper) on the outputs of ``model`` over the ε-ball around each x.

    Without ``spec`` the bounds are on the logits, (N, K). With ``spec`` C, (N, m, K), they
    are on C·logits, (N, m), the last Linear layer folded into C (tighter; Gowal et al.).
    Differentiable in the model's parameters, so it serves IBP training too.
    """
    _check_args(x, eps, clip, model)
    layers = bound_layers(model)
    _check_spec(layers, spec, len(x))
    lower, upper = input_box(x, eps, clip)
    for layer in (layers[:-1] if spec is not None else layers):
        lower, upper = interval_step(layer, lower, upper)
    if spec is None:
        return lower, upper
    return spec_interval(layers[-1], spec.to(lower.dtype), lower, upper)
