"""Adversarial patch: a sticker that pushes any image towards one class, wherever it is put.

Brown, Mané, Roy, Abadi & Gilmer 2017, "Adversarial Patch", eq. 1: learn a patch p that
maximises the expected log-probability of the target class t when p is pasted onto random
images x at random locations l,

    p̂ = argmax_p  E_{x, l} [ log Pr(t | A(p, x, l)) ],

by stochastic gradient ascent on p (here Adam, p clipped to [0, 1]). Unlike the attacks
before, p is not small: it is a visible square, and it is universal (one patch for every
image) and location-independent. The same idea, printed, is the "graffiti" on the stop
signs of Eykholt et al. 2018.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import (check_attack_args, check_class_labels, check_generator, check_images,
                      check_model_input, check_nonempty, check_positive, eval_mode, predict_labels, predict_logits)


def apply_patch(x: torch.Tensor, patch: torch.Tensor, rows: torch.Tensor,
                cols: torch.Tensor) -> torch.Tensor:
    """Paste ``patch`` (C, s, s) onto each image of x at its top-left corner (rows[i], cols[i]).

    Differentiable in the patch: the pasted canvas is a transposed convolution of a one-hot
    map of the corner with the patch as kernel.
    """
    n, c, h, w = x.shape
    s = patch.shape[-1]
    if s > min(h, w):
        raise ValueError(f"patch must fit the {h} × {w} images, got size {s}")
    for name, corner, size in (("rows", rows, h), ("cols", cols, w)):
        corner = torch.as_tensor(corner)
        if corner.shape != (n,) or corner.is_floating_point():
            raise ValueError(f"{name} must be {n} integer corners, one per image, got {tuple(corner.shape)} "
                             f"{corner.dtype}")
        if n and (int(corner.min()) < 0 or int(corner.max()) > size - s):
            raise ValueError(f"{name} must lie in [0, {size - s}] (the patch's top-left corner on "
                             f"the image), got values in [{int(corner.min())}, {int(corner.max())}]")
    corner = torch.zeros(n, 1, h - s + 1, w - s + 1, dtype=x.dtype, device=x.device)
    corner[torch.arange(n), 0, rows, cols] = 1
    canvas = F.conv_transpose2d(corner, patch[None].to(x.dtype))                # (N, C, H, W)
    mask = F.conv_transpose2d(corner, torch.ones(1, 1, s, s, dtype=x.dtype, device=x.device))
    return x * (1 - mask) + canvas


def random_corners(n: int, size: int, image_size: tuple[int, int],
                   generator: torch.Generator | None = None, device=None):
    """Uniformly random top-left corners (rows, cols) for a size × size patch."""
    h, w = image_size
    rows = torch.randint(0, h - size + 1, (n,), generator=generator).to(device)
    cols = torch.randint(0, w - size + 1, (n,), generator=generator).to(device)
    return rows, cols


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def adversarial_patch(model, x: torch.Tensor, target: int, size: int = 8, steps: int = 300,
                      lr: float = 0.05, batch_size: int = 128,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Train a ``size`` × ``size`` patch that makes ``model`` answer ``target`` (Brown et al.).

    Each of ``steps`` Adam steps draws ``batch_size`` images from ``x`` and a random location
    for each, and descends the cross-entropy to ``target``. Returns the patch (C, size, size)
    in [0, 1], initialised uniformly at random from ``generator``.
    """
    check_images(x)
    check_nonempty(x)
    check_model_input(model, x)
    check_generator(generator)
    n, c, h, w = x.shape
    if not (isinstance(target, int) and target >= 0):
        raise ValueError(f"target must be a class index (an int >= 0), got {target!r}")
    if not (isinstance(size, int) and 0 < size <= min(h, w)):
        raise ValueError(f"size must be an int in 1..{min(h, w)}, got {size!r}")
    check_positive("steps", steps, integer=True)
    check_positive("lr", lr)
    check_positive("batch_size", batch_size, integer=True)
    x = x.detach()
    patch = torch.rand(c, size, size, generator=generator, dtype=x.dtype).to(x.device)
    patch.requires_grad_(True)
    opt = torch.optim.Adam([patch], lr=lr)
    with eval_mode(model):
        for _ in range(steps):
            idx = torch.randint(0, n, (min(batch_size, n),), generator=generator).to(x.device)
            rows, cols = random_corners(len(idx), size, (h, w), generator, x.device)
            logits = model(apply_patch(x[idx], patch, rows, cols))
            t = torch.full((len(idx),), target, dtype=torch.long, device=x.device)
            loss = F.cross_entropy(logits, t)
            (patch.grad,) = torch.autograd.grad(loss, patch)
            opt.step()
            with torch.no_grad():
                patch.clamp_(0, 1)
    return patch.detach()


def patch_success_rate(model, x: torch.Tensor, y: torch.Tensor, patch: torch.Tensor,
                       target: int, placements: int = 4,
                       generator: torch.Generator | None = None) -> float:
    """Targeted success rate: share of (image, random placement) pairs classified as ``target``,
    over the images whose true label ``y`` is not the target."""
    check_attack_args(x, y, model=model)
    check_nonempty(x)
    check_positive("placements", placements, integer=True)
    check_generator(generator)
    keep = y != target
    if not keep.any():
        raise ValueError(f"y must hold some label other than target {target}: the success rate "
                         f"counts only images that are not already of the target class")
    x = x[keep]
    hits = []
    with eval_mode(model):
        for _ in range(placements):
            rows, cols = random_corners(len(x), patch.shape[-1], tuple(x.shape[-2:]), generator,
                                        x.device)
            logits = predict_logits(model, apply_patch(x, patch, rows, cols))
            check_class_labels(y, logits.shape[1])
            check_class_labels(torch.tensor([target]), logits.shape[1], "target")
            hits.append((logits.argmax(1) == target).float())
    return torch.cat(hits).mean().item()
