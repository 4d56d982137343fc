"""JSMA, the Jacobian-based saliency map attack: change a few pixels, a lot.

Papernot, McDaniel, Jha, Fredrikson, Celik & Swami 2016, "The Limitations of Deep Learning in
Adversarial Settings", Algorithms 2 and 3 (pairs of pixels, increasing them by θ). At each
step take the Jacobian of the logits (the "JSMA-Z" variant); for every pair {p, q} of pixels
still in the search domain Γ,

    α = Σ_{i∈{p,q}} ∂Z_t/∂x_i,     β = Σ_{i∈{p,q}} Σ_{j≠t} ∂Z_j/∂x_i,

pick the pair maximising α·|β| among those with α > 0 and β < 0 (eq. 10), add θ to both
pixels (clipped to [0, 1]) and remove them from Γ. Stop when the label is t, when no pair
qualifies, or when a fraction γ of the pixels has been changed.

The untargeted form (``targeted=False``) swaps the roles: pairs whose increase lowers the
true class's logit Z_y (α = −Σ ∂Z_y/∂x_i > 0) and raises the others (β = −Σ Σ_{j≠y} ∂Z_j/∂x_i
< 0), until the label is no longer y.
"""
from __future__ import annotations

import torch

from ._common import check_attack_args, check_class_labels, eval_mode


def _saliency_pairs(a: torch.Tensor, b: torch.Tensor, domain: torch.Tensor):
    """The best pair (p, q) per example for eq. 10, and whether one exists.

    a, b, domain: (n, D). Pairs outside Γ, with p = q, or failing α > 0, β < 0 are excluded.
    """
    alpha = a[:, :, None] + a[:, None, :]                                  # (n, D, D)
    beta = b[:, :, None] + b[:, None, :]
    ok = (alpha > 0) & (beta < 0) & domain[:, :, None] & domain[:, None, :]
    ok &= ~torch.eye(a.shape[1], dtype=torch.bool, device=a.device)
    score = torch.where(ok, alpha * -beta, torch.zeros((), dtype=a.dtype, device=a.device))
    best = score.flatten(1).argmax(1)
    exists = ok.flatten(1).any(1)
    return best // a.shape[1], best % a.shape[1], exists


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def jsma(model, x: torch.Tensor, y: torch.Tensor, theta: float = 1.0, gamma: float = 0.1,
         targeted: bool = True, chunk: int = 16) -> torch.Tensor:
    """Saliency-map attack: raise pairs of pixels by ``theta`` until the label is ``y``.

    ``gamma`` is the largest fraction of pixels that may change (Papernot et al. use 14.5% on
    MNIST); ``chunk`` bounds how many examples are processed at once (the pair scores take
    D² floats per example, 2.4 MB for MNIST). ``targeted=True`` (the paper's setting) reads
    ``y`` as the targets.
    """
    check_attack_args(x, y, model=model)
    if not (isinstance(theta, (int, float)) and 0 < theta <= 1):
        raise ValueError(f"theta must be a number in (0, 1], got {theta!r}")
    if not (isinstance(gamma, (int, float)) and 0 < gamma <= 1):
        raise ValueError(f"gamma must be a number in (0, 1], got {gamma!r}")
    with eval_mode(model):
        return torch.cat([_jsma_chunk(model, xc.detach(), yc.long(), theta, gamma, targeted)
                          for xc, yc in zip(x.split(chunk), y.split(chunk))]) if len(x) else x.clone()


def _jsma_chunk(model, x, y, theta, gamma, targeted):
    n, d = len(x), x[0].numel()
    x_adv = x.clone().flatten(1)                                            # (n, D)
    domain = x_adv < 1                                                      # Γ: pixels that can rise
    max_iter = int(d * gamma / 2)
    rows = torch.arange(n, device=x.device)
    for it in range(max_iter + 1):      # the last pass only checks the final labels
        xg = x_adv.detach().view_as(x).requires_grad_(True)
        logits = model(xg)
        check_class_labels(y, logits.shape[1])
        pred = logits.argmax(1)
        active = (pred != y) if targeted else (pred == y)
        active &= domain.sum(1) >= 2
        if not active.any() or it == max_iter:
            break
        (grad_t,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), xg, retain_graph=True)
        (grad_all,) = torch.autograd.grad(logits.sum(), xg)
        grad_t, grad_o = grad_t.flatten(1), (grad_all - grad_t).flatten(1)  # (n, D) each
        a, b = (grad_t, grad_o) if targeted else (-grad_t, -grad_o)
        p, q, exists = _saliency_pairs(a, b, domain)
        move = active & exists
        for idx in (p, q):
            x_adv[rows[move], idx[move]] = (x_adv[rows[move], idx[move]] + theta).clamp(max=1)
            domain[rows[move], idx[move]] = False
        domain[~exists] = False   # no admissible pair left: this example is done
    return x_adv.view_as(x)
