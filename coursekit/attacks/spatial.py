"""Spatial attacks (rotate and shift, no pixel noise) and expectation over transformation.

Engstrom, Tran, Tsipras, Schmidt & Madry 2019, "Exploring the Landscape of Spatial
Robustness": a small rotation and translation, which leaves a digit obviously the same
digit, is enough to fool a classifier. The attack is a grid search: try every
(angle, dx, dy) on a grid (for MNIST ±30° and ±3 pixels) and keep, per image, the worst
one: a transformation that fools the model if there is one, else the one with the highest
loss. The model's gradient is not needed.

Expectation over transformation (EOT; Athalye, Engstrom, Ilyas & Kwok 2018, "Synthesizing
Robust Adversarial Examples", eq. 1): to make a perturbation that survives being printed,
photographed, turned or moved, maximise the *expected* loss over random transformations t,
E_t[L(f(t(x + δ)), y)], estimating its gradient by the average over ``samples`` draws of t
at each PGD step. This is the bridge to physical adversarial examples.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ._common import (as_images_shape, check_attack_args, check_class_labels, check_generator,
                      check_images, check_labels, check_nonempty, check_positive, eval_mode, is_fooled,
                      predict_logits, project_linf)


def rotate_translate(x: torch.Tensor, angle: torch.Tensor | float, dx: torch.Tensor | float,
                     dy: torch.Tensor | float) -> torch.Tensor:
    """Rotate each image by ``angle`` degrees (counter-clockwise) about its centre, then shift
    it by (``dx``, ``dy``) pixels (right, down); bilinear, zero fill. Differentiable in x.

    Each parameter is a number or a tensor with one value per image.
    """
    n, _, h, w = x.shape
    def per_image(v):
        return torch.as_tensor(v, dtype=x.dtype, device=x.device).expand(n)
    a = per_image(angle) * (math.pi / 180)
    cos, sin = torch.cos(a), torch.sin(a)
    # affine_grid maps output coordinates (in [-1, 1]) to input ones: the inverse transform
    theta = torch.stack([
        torch.stack([cos, -sin * h / w, -per_image(dx) * 2 / w], 1),
        torch.stack([sin * w / h, cos, -per_image(dy) * 2 / h], 1),
    ], 1)                                                                       # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def spatial_grid(max_angle: float = 30.0, max_shift: float = 3.0, n_angles: int = 31,
                 n_shifts: int = 7) -> torch.Tensor:
    """The (angle, dx, dy) triples of the grid search, (n_angles · n_shifts², 3)."""
    angles = torch.linspace(-max_angle, max_angle, n_angles)
    shifts = torch.linspace(-max_shift, max_shift, n_shifts)
    return torch.cartesian_prod(angles, shifts, shifts)


def spatial_attack(model, x: torch.Tensor, y: torch.Tensor, max_angle: float = 30.0,
                   max_shift: float = 3.0, n_angles: int = 31, n_shifts: int = 7,
                   targeted: bool = False) -> torch.Tensor:
    """Worst rotation + translation per image by grid search (Engstrom et al., §3).

    Searches ``n_angles`` angles in [−max_angle, max_angle] degrees times ``n_shifts``²
    shifts in [−max_shift, max_shift] pixels (defaults: the paper's MNIST grid, 31 × 7 × 7).
    Returns the transformed images; a fooling transformation wins over a higher loss.
    """
    check_attack_args(x, y, model=model)
    for name, value in (("n_angles", n_angles), ("n_shifts", n_shifts)):
        check_positive(name, value, integer=True)
    check_positive("max_angle", max_angle, allow_zero=True)
    check_positive("max_shift", max_shift, allow_zero=True)
    x = x.detach()
    y = y.long()
    best = x.clone()
    best_score = torch.full((len(x),), -float("inf"), dtype=x.dtype, device=x.device)
    with eval_mode(model), torch.no_grad():
        for angle, dx, dy in spatial_grid(max_angle, max_shift, n_angles, n_shifts).tolist():
            cand = rotate_translate(x, angle, dx, dy)
            logits = model(cand)
            check_class_labels(y, logits.shape[1])
            loss = F.cross_entropy(logits, y, reduction="none")
            loss = -loss if targeted else loss
            # fooled first (a bonus larger than any loss gap), then the loss
            score = loss + 1e6 * is_fooled(logits.argmax(1), y, targeted).to(x.dtype)
            better = score > best_score
            best_score = torch.where(better, score, best_score)
            best = torch.where(as_images_shape(better, x), cand, best)
    return best


def random_rotate_translate(x: torch.Tensor, max_angle: float = 30.0, max_shift: float = 3.0,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image turned and shifted by a uniformly random angle and shift within the bounds."""
    n = len(x)
    u = torch.rand(3, n, generator=generator, dtype=x.dtype).to(x.device) * 2 - 1  # in [-1, 1]
    return rotate_translate(x, u[0] * max_angle, u[1] * max_shift, u[2] * max_shift)


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def eot_pgd(model, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
            samples: int = 8, max_angle: float = 15.0, max_shift: float = 2.0,
            targeted: bool = False, generator: torch.Generator | None = None,
            transform: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor] | None = None
            ) -> torch.Tensor:
    """L∞ PGD on the expected loss over random rotations and shifts (EOT).

    At each of ``steps`` steps the gradient is averaged over ``samples`` random
    transformations of the current x_adv (angles within ±``max_angle``°, shifts within
    ±``max_shift`` px), then the usual signed step of size ``alpha`` and projection onto the
    ε-ball and [0, 1] follow. The returned image is untransformed: transformations are what
    the world will apply to it.

    ``transform(batch, generator)`` replaces the random rotation and shift (``max_angle`` and
    ``max_shift`` are then unused). With the identity, :func:`no_transform`, the expectation
    is over the *model's* own randomness: the EOT attack on a randomised defense such as
    noise or dropout at test time (Athalye, Carlini & Wagner 2018, "Obfuscated Gradients
    Give a False Sense of Security"), since each of the ``samples`` copies of the batch
    draws its own noise.
    """
    check_attack_args(x, y, eps, model)
    check_positive("alpha", alpha)
    check_positive("steps", steps, integer=True)
    check_positive("samples", samples, integer=True)
    x = x.detach()
    y = y.long()
    x_adv = x.clone()
    if transform is None:
        def transform(batch, g):
            return random_rotate_translate(batch, max_angle, max_shift, g)
    with eval_mode(model):
        for _ in range(steps):
            xa = x_adv.requires_grad_(True)
            batch = xa.repeat(samples, 1, 1, 1)                                 # (S·N, C, H, W)
            logits = model(transform(batch, generator))
            check_class_labels(y, logits.shape[1])
            loss = F.cross_entropy(logits, y.repeat(samples), reduction="sum") / samples
            (grad,) = torch.autograd.grad(-loss if targeted else loss, xa)
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = project_linf(x_adv, x, eps)
    return x_adv


def no_transform(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The identity, as a ``transform`` for :func:`eot_pgd` on a model that is random itself."""
    return x


def survival_rate(model, x_adv: torch.Tensor, y: torch.Tensor, samples: int = 20,
                  max_angle: float = 15.0, max_shift: float = 2.0, targeted: bool = False,
                  generator: torch.Generator | None = None) -> float:
    """Share of (image, random transformation) pairs on which the attack still succeeds."""
    check_images(x_adv, "x_adv")
    check_nonempty(x_adv, "x_adv")
    check_labels(y, len(x_adv))
    check_positive("samples", samples, integer=True)
    check_generator(generator)
    hits = []
    with eval_mode(model):
        for _ in range(samples):
            t = random_rotate_translate(x_adv, max_angle, max_shift, generator)
            logits = predict_logits(model, t)
            check_class_labels(y, logits.shape[1])
            hits.append(is_fooled(logits.argmax(1), y, targeted).float())
    return torch.stack(hits).mean().item()
