"""What G learned, part 2: units of G that control a property of its output.

After Bau et al. 2019/2020 ("GAN Dissection"; "Understanding the role of individual units of a
deep neural network"): record the channels ("units") of one of G's hidden layers, rank them
by how strongly their activation goes with a property of the image, then switch the top ones
off (set to 0) or on (set to a high value) and watch the property change.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch
from torch import nn

from ..modes import eval_mode


@contextmanager
def intervene(layer: nn.Module, units: list[int], value: float | None = 0.0):
    """Within the block, force channels ``units`` of ``layer``'s output to ``value``
    (0 switches them off; a high value switches them on). The hook is removed afterwards."""
    def hook(_module, _inputs, out):
        out = out.clone()
        out[:, units] = value
        return out
    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def unit_activations(G: nn.Module, layer: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean activation per unit (N, units), images (N, C, H, W)) for codes z, in eval mode."""
    seen = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.update(a=out))
    try:
        with eval_mode(G):
            x = G(z)
    finally:
        handle.remove()
    a = seen["a"]
    return (a.flatten(2).mean(2) if a.ndim > 2 else a), x


@torch.no_grad()
def rank_units(G: nn.Module, layer: nn.Module, prop: Callable[[torch.Tensor], torch.Tensor],
               n: int = 1000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Units of ``layer`` sorted by the correlation of their mean activation with ``prop(G(z))``
    over n samples, most positive first. Returns (unit indices, correlations)."""
    z = G.sample_z(n, torch.Generator().manual_seed(seed))
    acts, x = unit_activations(G, layer, z)
    p = prop(x)
    a = acts - acts.mean(0)
    p = p - p.mean()
    corr = (a * p.view(-1, 1)).sum(0) / (a.norm(dim=0) * p.norm()).clamp_min(1e-12)
    order = corr.argsort(descending=True)
    return order, corr[order]
