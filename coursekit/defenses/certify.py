"""Certified robustness: bounds on a network's outputs that hold for *every* input in the ε-ball.

An attack finds some bad points of the ball B(x, ε) = {x' : ‖x' − x‖∞ ≤ ε}; a certificate
proves there are none. Both methods here bound every pre-activation ẑ_i of a
Linear/Conv2d/ReLU/Flatten network (the course's :class:`~coursekit.models.Normalize` first
layer included) over the whole ball, layer by layer, and then bound the *margins*
z_y − z_j of the logits. If every margin's lower bound is > 0, no x' in the ball changes the
prediction: x is *certified* at ε (and certainly classified correctly).

Interval bound propagation (IBP; Gowal et al. 2018, "On the Effectiveness of Interval Bound
Propagation for Training Verifiably Robust Models", eq. 6). A box [l, u] has centre
μ = (u + l)/2 and radius r = (u − l)/2; through an affine layer z ↦ Wz + b it becomes

    μ' = W μ + b,        r' = |W| r,

and through the monotone ReLU, [relu(l), relu(u)]. For the margins the last layer is folded
into the specification ("elision", Gowal et al.): c^T(W z + b) with c = e_y − e_j is one
affine map, bounded at once rather than through two separate intervals.

Wong & Kolter 2018 ("Provable Defenses against Adversarial Examples via the Convex Outer
Adversarial Polytope", Theorem 1 and Algorithm 1). Each unstable ReLU (l < 0 < u) is
replaced by its convex hull, and the dual of the resulting linear program is a *dual
network*: the objective c runs backwards through the transposed layers, ν̂_i = W_i^T ν_{i+1},
and through each ReLU as ν_i = D_i ν̂_i with D_i = u/(u − l) on unstable units (1 if active,
0 if dead). The lower bound on c^T ẑ_k is then (Theorem 1, with the sign flipped: here Λ
plays −ν)

    c^T ẑ_k ≥ Σ_i Λ_{i+1}^T b_i + min_{z_1 ∈ box} Λ_1^T z_1 + Σ_i Σ_{j ∈ I_i} l_ij [−Λ_ij]_+ ,

and the same Λ gives the upper bound with u-side term −Σ l_ij [Λ_ij]_+ (Algorithm 1 uses one
pass for both). Algorithm 1 computes the bounds of layer 2, 3, … in turn, each with c = I
over that layer's units, the bounds of layer 2 being the exact ones of an affine map of the
box (= IBP). A single Linear layer is bounded exactly by both methods.

The relaxation's lower line z ≥ D ẑ dips below 0 on an unstable unit, so on its own it can
be looser than IBP for some units (notably on IBP-trained networks; Zhang et al. 2020,
"Towards Stable and Efficient Training of Verifiably Robust Neural Networks"). With
``intersect=True`` (the default) every layer's bounds are the intersection of both, which
is still a valid bound and is never looser than IBP.

Inputs are images in [0, 1], so the ball is clipped to [0, 1] (``clip=True``): the box is
[max(x − ε, 0), min(x + ε, 1)]. Bounds are for the model in eval mode (dropout off).
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..attacks._common import check_images, eval_mode, predict_labels
from ..validate import check_labels, check_model_input, check_positive
from ..models.classifiers import Normalize

AFFINE = (nn.Linear, nn.Conv2d, Normalize)
SUPPORTED = AFFINE + (nn.ReLU, nn.Flatten, nn.Identity, nn.Dropout)
METHODS = ("ibp", "wong-kolter")


# ---------------------------------------------------------------- the network as a list of layers
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


# ---------------------------------------------------------------- interval bound propagation
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


def _spec_interval(last: nn.Linear, C: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor):
    """Bounds of C (W z + b) over the box z ∈ [lower, upper], the last layer elided into C."""
    W = C @ last.weight                                                        # (N, m, H)
    b = C @ last.bias if last.bias is not None else 0
    mid, rad = (upper + lower) / 2, (upper - lower) / 2                        # (N, H)
    mid = (W @ mid[:, :, None]).squeeze(2) + b                                 # (N, m)
    rad = (W.abs() @ rad[:, :, None]).squeeze(2)
    return mid - rad, mid + rad


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
    return _spec_interval(layers[-1], spec.to(lower.dtype), lower, upper)


# ---------------------------------------------------------------- Wong & Kolter's dual network
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
            lower, upper = _spec_interval(layer, spec.to(lower.dtype), lower, upper)
        else:
            lower, upper = interval_step(layer, lower, upper)
    lam = _identity_objective(lower) if spec is None else spec.to(lower.dtype)
    lo, up = dual_bounds(layers, shapes, relu_bounds, box, lam)
    if not intersect:
        return lo, up
    return torch.maximum(lo, lower), torch.minimum(up, upper)


# ---------------------------------------------------------------- certified accuracy
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
