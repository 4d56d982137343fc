"""DeepFool and the ρ_adv robustness measure.

Moosavi-Dezfooli, Fawzi & Frossard 2016, "DeepFool: a simple and accurate method to fool deep
neural networks", Algorithm 2 (multi-class). At the current point x_i, linearise every
logit difference f'_k = f_k − f_y (w'_k = ∇f_k − ∇f_y) and step to the nearest linearised
decision boundary:

    l = argmin_{k≠y} |f'_k| / ‖w'_k‖₂,        r_i = (|f'_l| + 1e-4) / ‖w'_l‖₂² · w'_l

accumulating r = Σ r_i until the label changes; the answer is x + (1 + overshoot) · r. As in the
authors' code, the label is checked at x + (1 + overshoot) · r, and only the ``num_classes``
classes with the highest logits at x are candidates. Here each point is also clipped to
[0, 1] so the result is an image.

ρ_adv (eq. 15) is the average relative size of the smallest perturbation that fools the
model, ρ̂_adv = mean_x ‖r̂(x)‖₂ / ‖x‖₂: the paper reports 0.20 for LeNet on MNIST.
"""
from __future__ import annotations

import torch

from ._common import (as_images_shape, check_attack_args, check_class_labels, check_images,
                      check_positive,
                      eval_mode, per_example_norm)


def _logits_and_jacobian(model, x: torch.Tensor, classes: torch.Tensor):
    """Logits (N, K) at x and the gradients of the chosen logits, (N, M, C, H, W).

    ``classes`` (N, M) names, per example, the M logits to differentiate. One backward pass
    per column: examples do not interact in eval mode, so the gradient of a batch sum is the
    stack of per-example gradients.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    grads = []
    for j in range(classes.shape[1]):
        picked = logits.gather(1, classes[:, j:j + 1]).sum()
        (g,) = torch.autograd.grad(picked, x, retain_graph=j + 1 < classes.shape[1])
        grads.append(g)
    return logits.detach(), torch.stack(grads, 1)


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def deepfool(model, x: torch.Tensor, y: torch.Tensor, overshoot: float = 0.02,
             max_iter: int = 50, num_classes: int = 10) -> torch.Tensor:
    """Minimal L2 perturbation that changes the label from ``y`` (DeepFool, Algorithm 2).

    ``overshoot`` (paper: 0.02) pushes the final point just past the boundary; ``max_iter``
    bounds the linearisation steps (paper: 50); ``num_classes`` is how many of the top
    classes at x are tried (10 on MNIST). Inputs the model already gets wrong are returned
    as they are. Untargeted only.
    """
    check_attack_args(x, y, model=model)
    check_positive("overshoot", overshoot, allow_zero=True)
    check_positive("max_iter", max_iter, integer=True)
    check_positive("num_classes", num_classes, integer=True)
    x = x.detach()
    y = y.long()
    r_tot = torch.zeros_like(x)
    x_adv = x.clone()
    with eval_mode(model), torch.no_grad():
        logits0 = model(x)
    check_class_labels(y, logits0.shape[1])
    k = min(num_classes, logits0.shape[1])
    # candidates: y first, then the k − 1 other classes with the highest logits at x, (N, k)
    others = logits0.scatter(1, y[:, None], float("-inf")).topk(k - 1, dim=1).indices
    classes = torch.cat([y[:, None], others], 1)
    active = logits0.argmax(1) == y
    with eval_mode(model):
        for _ in range(max_iter):
            idx = active.nonzero().flatten()
            if len(idx) == 0:
                break
            logits, jac = _logits_and_jacobian(model, x_adv[idx], classes[idx])   # jac: (n, k, C, H, W)
            f = logits.gather(1, classes[idx])                                   # (n, k)
            f_diff = f[:, 1:] - f[:, :1]                                          # f'_k, (n, k-1)
            w_diff = jac[:, 1:] - jac[:, :1]                                      # w'_k, (n, k-1, C, H, W)
            w_norm = w_diff.flatten(2).norm(dim=2)                                # (n, k-1)
            dist = f_diff.abs() / w_norm.clamp_min(1e-12)
            l = dist.argmin(1)                                                    # (n,)
            pick = torch.arange(len(idx), device=x.device)
            w_l = w_diff[pick, l]                                                 # (n, C, H, W)
            scale = (f_diff[pick, l].abs() + 1e-4) / w_norm[pick, l].clamp_min(1e-12) ** 2
            r_tot[idx] += as_images_shape(scale, w_l) * w_l
            x_adv[idx] = (x[idx] + (1 + overshoot) * r_tot[idx]).clamp(0, 1)
            with torch.no_grad():
                still = model(x_adv[idx]).argmax(1) == y[idx]
            active[idx] = still
    return x_adv


def rho_adv(x: torch.Tensor, x_adv: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """ρ̂_adv = mean ‖x_adv − x‖₂ / ‖x‖₂ (DeepFool paper, eq. 15), over ``mask`` if given.

    Pass DeepFool's output as ``x_adv``, and as ``mask`` the examples it fooled (those that
    were correctly classified and whose label changed), to reproduce the paper's measure.
    """
    check_images(x)
    check_images(x_adv, "x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(f"x_adv must have the shape of x {tuple(x.shape)}, got {tuple(x_adv.shape)}")
    ratio = per_example_norm(x_adv - x) / per_example_norm(x).clamp_min(1e-12)
    if mask is not None:
        ratio = ratio[mask]
    if len(ratio) == 0:
        raise ValueError("rho_adv needs at least one example (the mask selects none)")
    return ratio.mean().item()
