"""Optimising the input: the lecture's "iguana" problem.

Train the *image*, not the network. With the weights frozen, run gradient descent on the
pixels to minimise the loss towards a chosen class t (the "iguana"):

    min_x  L(f(x), t) + λ ‖x − x₀‖²,        x ∈ [0, 1]^d

* From noise and λ = 0 the result is classified as t with high confidence but looks like
  nothing: of the 256^(H·W·C) possible images, real ones are a vanishing sliver, and the
  descent has no reason to land in it.
* From a real image x₀ (the "cat") with λ > 0 the result stays close to x₀, so it still looks
  like a cat to a person while the network says t: an adversarial example. Starting at x₀
  also makes the search short, because a small step already suffices.

Here the update is Adam on the pixels followed by clipping to [0, 1] (projected gradient
descent), the loss is the cross-entropy, and ``targeted=False`` flips the sign of the
cross-entropy (climb away from the true label y instead of towards a target).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import (check_attack_args, check_class_labels, check_images, check_nonempty,
                      check_positive, eval_mode)


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def optimize_input(model, x: torch.Tensor, y: torch.Tensor, lam: float = 0.0,
                   steps: int = 100, lr: float = 0.05, x0: torch.Tensor | None = None,
                   targeted: bool = True) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Gradient descent on the input from the start ``x`` towards class ``y``.

    Minimises  Σ_i CE(f(x_i), y_i) + λ ‖x_i − x0_i‖²  (the CE negated when
    ``targeted=False``) with Adam (learning rate ``lr``) for ``steps`` steps, clipping the
    pixels to [0, 1] after each one. ``x0`` is the image to stay close to; it defaults to the
    start ``x``. Returns the forged images and a history of per-step batch means:
    ``"loss"`` (the objective), ``"ce"``, ``"distance"`` (‖x − x0‖₂) and ``"prob"`` (the
    softmax probability of class y).
    """
    check_attack_args(x, y, model=model)
    check_nonempty(x)                  # the history averages over the batch
    check_positive("lam", lam, allow_zero=True)
    check_positive("steps", steps, integer=True)
    check_positive("lr", lr)
    x0 = x if x0 is None else x0
    check_images(x0, "x0")
    if x0.shape != x.shape:
        raise ValueError(f"x0 must have the shape of x {tuple(x.shape)}, got {tuple(x0.shape)}")
    x0 = x0.detach()
    x_adv = x.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([x_adv], lr=lr)
    history: dict[str, list[float]] = {"loss": [], "ce": [], "distance": [], "prob": []}
    sign = 1.0 if targeted else -1.0
    with eval_mode(model):
        for _ in range(steps):
            logits = model(x_adv)
            check_class_labels(y, logits.shape[1])
            ce = F.cross_entropy(logits, y.long(), reduction="none")          # (N,)
            dist2 = (x_adv - x0).flatten(1).pow(2).sum(1)                    # (N,)
            loss = (sign * ce + lam * dist2).sum()
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv.grad = grad
            opt.step()
            with torch.no_grad():
                x_adv.clamp_(0, 1)
                history["loss"].append(loss.item() / len(x))
                history["ce"].append(ce.mean().item())
                history["distance"].append(dist2.sqrt().mean().item())
                history["prob"].append(logits.softmax(1).gather(1, y.long()[:, None]).mean().item())
    return x_adv.detach(), history

