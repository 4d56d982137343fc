"""Wong & Kolter's dual bound (Wong & Kolter 2018, "Provable Defenses against Adversarial Examples
via the Convex Outer Adversarial Polytope", Theorem 1 and Algorithm 1): bounds on a network's
outputs over the whole ε-ball, from the dual of a linear relaxation.

Each unstable ReLU (l < 0 < u) is replaced by its convex hull, and the dual of the resulting
linear program is a *dual network*: the objective c runs backwards through the transposed
layers, ν̂_i = W_i^T ν_{i+1}, and through each ReLU as ν_i = D_i ν̂_i with D_i = u/(u − l) on
unstable units (1 if active, 0 if dead). The lower bound on c^T ẑ_k is then (Theorem 1, with
the sign flipped: here Λ plays −ν)

    c^T ẑ_k ≥ Σ_i Λ_{i+1}^T b_i + min_{z_1 ∈ box} Λ_1^T z_1 + Σ_i Σ_{j ∈ I_i} l_ij [−Λ_ij]_+ ,

and the same Λ gives the upper bound with u-side term −Σ l_ij [Λ_ij]_+ (Algorithm 1 uses one
pass for both). Algorithm 1 computes the bounds of layer 2, 3, … in turn, each with c = I
over that layer's units, the bounds of layer 2 being the exact ones of an affine map of the
box (= IBP). A single Linear layer is bounded exactly.

The relaxation's lower line z ≥ D ẑ dips below 0 on an unstable unit, so on its own it can
be looser than IBP for some units (notably on IBP-trained networks; Zhang et al. 2020,
"Towards Stable and Efficient Training of Verifiably Robust Neural Networks"). With
``intersect=True`` (the default) every layer's bounds are the intersection of both, which
is still a valid bound and is never looser than IBP.

Neighbours: the layers and the box are in :mod:`~coursekit.defenses.bounds`, the interval
bounds it intersects with in :mod:`~coursekit.defenses.ibp`, certification in
:mod:`~coursekit.defenses.certify`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .bounds import _check_args, _check_spec, bound_layers, input_box
from .ibp import interval_step, spec_interval


def _affine_transpose(layer: nn.Module, lam: torch.Tensor, in_shape) -> tuple[torch.Tensor, torch.Tensor]:
    """Λ ↦ (Λ W, Λ·b): one transposed affine layer of the dual network.

    ``lam`` is (N, m, *out_shape); returns Λ W as (N, m, *in_shape) and Λ·b as (N, m).
    """
    n, m = lam.shape[:2]
    if isinstance(layer, nn.Linear):
        bias = lam @ layer.bias if layer.bias is not None else lam.new_zeros(n, m)
        return lam @ layer.weight, bias
    if isinstance(layer, nn.Conv2d):
        bias = (lam.sum((3, 4)) @ layer.bias) if layer.bias is not None else lam.new_zeros(n, m)
        out_hw = lam.shape[3:]
        # output_padding recovers the input size that the strided convolution rounded down
        extra = [in_shape[1 + k] - ((out_hw[k] - 1) * layer.stride[k] - 2 * layer.padding[k]
                                    + layer.dilation[k] * (layer.kernel_size[k] - 1) + 1)
                 for k in range(2)]
        back = F.conv_transpose2d(lam.flatten(0, 1), layer.weight, None, layer.stride,
                                  layer.padding, extra, layer.groups, layer.dilation)
        return back.view(n, m, *in_shape), bias
    # Normalize: (z − mean)/std elementwise
    return lam / layer.std, -(lam.flatten(2).sum(2)) * layer.mean / layer.std


def _relu_slope(lower: torch.Tensor, upper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D of Wong & Kolter: 1 on active units, 0 on dead ones, u/(u − l) on unstable ones."""
    unstable = (lower < 0) & (upper > 0)
    d = (lower >= 0).to(lower.dtype)
    d = torch.where(unstable, upper / (upper - lower).clamp_min(1e-12), d)
    return d, unstable


def dual_bounds(layers: list[nn.Module], shapes: list, relu_bounds: dict, box, lam: torch.Tensor):
    """Lower and upper bounds on Λ·(output of ``layers``) over the box (Theorem 1's J).

    ``lam`` is the objective, (N, m, *output_shape); ``relu_bounds[i]`` holds the
    pre-activation bounds (l, u) of the ReLU at position i; ``shapes[i]`` is the input shape
    of layer i (without N). Returns two (N, m) tensors.
    """
    n, m = lam.shape[:2]
    lo = lam.new_zeros(n, m)
    up = lam.new_zeros(n, m)
    for i in reversed(range(len(layers))):
        layer = layers[i]
        if isinstance(layer, nn.ReLU):
            l, u = relu_bounds[i]
            d, unstable = _relu_slope(l, u)
            lam = lam * d[:, None]                                              # ν_i = D_i ν̂_i
            l_unstable = torch.where(unstable, l, torch.zeros_like(l))[:, None]
            lo = lo + (l_unstable * (-lam).clamp_min(0)).flatten(2).sum(2)    # + Σ l [−Λ]_+
            up = up - (l_unstable * lam.clamp_min(0)).flatten(2).sum(2)       # − Σ l [Λ]_+
        elif isinstance(layer, nn.Flatten):
            lam = lam.reshape(n, m, *shapes[i])
        else:
            lam, bias = _affine_transpose(layer, lam, shapes[i])
            lo, up = lo + bias, up + bias
    lower, upper = box
    mid, rad = ((upper + lower) / 2)[:, None], ((upper - lower) / 2)[:, None]
    centre = (lam * mid).flatten(2).sum(2)
    spread = (lam.abs() * rad).flatten(2).sum(2)
    return lo + centre - spread, up + centre + spread


def _affine_count(layers) -> int:
    """Linear/Conv2d layers among ``layers`` (Normalize, elementwise, maps a box to a box exactly)."""
    return sum(isinstance(layer, (nn.Linear, nn.Conv2d)) for layer in layers)


def _identity_objective(lower: torch.Tensor) -> torch.Tensor:
    """Λ = I over the units of one layer, (N, m, *shape) with m = the number of units."""
    n, shape = len(lower), lower.shape[1:]
    m = shape.numel()
    return torch.eye(m, dtype=lower.dtype, device=lower.device).view(1, m, *shape).expand(n, m, *shape)


def _tighten(layers, shapes, relu_bounds, box, lower, upper, intersect):
    """Bounds of the units at the end of ``layers`` by the dual network (objective I).

    With ``intersect``, only the units that the interval bounds leave unstable are bounded
    (the others are settled: a tighter bound on them changes no slope D), and the result is
    intersected with the interval; an IBP-trained network has few unstable units, so the
    objective has few rows. Without it every unit is bounded, as in Algorithm 1.
    """
    n, shape = len(lower), lower.shape[1:]
    flat_l, flat_u = lower.flatten(1), upper.flatten(1)                       # (N, M)
    if not intersect:
        lo, up = dual_bounds(layers, shapes, relu_bounds, box, _identity_objective(lower))
        return lo.view_as(lower), up.view_as(upper)
    unstable = (flat_l < 0) & (flat_u > 0)
    k = int(unstable.sum(1).max())
    if k == 0:
        return lower, upper
    # the indices of each example's unstable units first; rows past its count are padding
    idx = torch.argsort(unstable.to(torch.int8), dim=1, descending=True, stable=True)[:, :k]
    valid = unstable.gather(1, idx)                                           # (N, k)
    lam = torch.zeros(n, k, shape.numel(), dtype=lower.dtype, device=lower.device)
    lam.scatter_(2, idx[:, :, None], valid[:, :, None].to(lower.dtype))
    lo, up = dual_bounds(layers, shapes, relu_bounds, box, lam.view(n, k, *shape))
    old_l, old_u = flat_l.gather(1, idx), flat_u.gather(1, idx)
    new_l = torch.where(valid, torch.maximum(lo, old_l), old_l)
    new_u = torch.where(valid, torch.minimum(up, old_u), old_u)
    return (flat_l.scatter(1, idx, new_l).view_as(lower),
            flat_u.scatter(1, idx, new_u).view_as(upper))


@torch.no_grad()
def wong_kolter_bounds(model: nn.Module, x: torch.Tensor, eps: float, clip: bool = True,
                       spec: torch.Tensor | None = None, intersect: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Wong & Kolter's bounds (lower, upper) on the logits, or on C·logits with ``spec`` C.

    Algorithm 1: walk forward; at each ReLU, bound its input with the dual network of the
    layers before it (objective I), except where one affine map of the box precedes it (the
    first ReLU, as a rule), whose interval is exact; finally bound the output (objective I
    or C). With ``intersect`` every layer's
    bounds are also intersected with the interval ones (never looser than IBP).
    Memory grows as N · (units of the widest layer)²: pass small batches of x.
    """
    _check_args(x, eps, clip, model)
    layers = bound_layers(model)
    _check_spec(layers, spec, len(x))
    box = input_box(x, eps, clip)
    shapes, relu_bounds = [], {}
    lower, upper = box                   # interval bounds of the current activation
    for i, layer in enumerate(layers):
        shapes.append(lower.shape[1:])
        if isinstance(layer, nn.ReLU):
            if relu_bounds or _affine_count(layers[:i]) > 1:  # else the interval is exact
                lower, upper = _tighten(layers[:i], shapes, relu_bounds, box, lower, upper,
                                        intersect)
            relu_bounds[i] = (lower, upper)
        if spec is not None and i == len(layers) - 1:
            lower, upper = spec_interval(layer, spec.to(lower.dtype), lower, upper)
        else:
            lower, upper = interval_step(layer, lower, upper)
    lam = _identity_objective(lower) if spec is None else spec.to(lower.dtype)
    lo, up = dual_bounds(layers, shapes, relu_bounds, box, lam)
    if not intersect:
        return lo, up
    return torch.maximum(lo, lower), torch.minimum(up, upper)
