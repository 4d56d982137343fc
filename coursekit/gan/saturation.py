"""Why the minimax generator cost stalls: log(1 − D(G(z))) against −log D(G(z)).

Goodfellow et al. 2014, §3: early in learning D rejects G's samples with high confidence, so
D(G(z)) ≈ 0, where log(1 − D(G(z))) is flat. Training G to *maximise* log D(G(z)) instead
(the min–max flip) keeps the same fixed point and gives a strong gradient exactly there.
With D(G(z)) = σ(d) for D's logit d:

    saturating      J(G) = log(1 − D):  dJ/dD = −1/(1 − D) → −1,   dJ/dd = −σ(d)     → 0
    non-saturating  J(G) = −log D:      dJ/dD = −1/D       → −∞,   dJ/dd = σ(d) − 1  → −1

(limits as D → 0). :func:`generator_costs` computes both costs and both gradients with
autograd through the package's own losses; :func:`saturation_run` trains a DCGAN on MNIST and
records how hard G is pushed at every step.
"""
from __future__ import annotations

import math

import torch

from ..config import threads
from .losses import LOSSES, non_saturating_g_loss, saturating_g_loss
from .nets import DCGANDiscriminator, DCGANGenerator
from .trainer import train_gan


def generator_costs(p: torch.Tensor) -> dict:
    """Both generator costs at D(G(z)) = p (any shape, values in (0, 1)), and their gradients
    with respect to p and to D's logit d = log(p / (1 − p)), per sample.

    Returns float64 tensors shaped like ``p``: ``saturating``, ``non_saturating``,
    ``d_saturating_dp``, ``d_non_saturating_dp``, ``d_saturating_dlogit``,
    ``d_non_saturating_dlogit``.
    """
    p = torch.as_tensor(p, dtype=torch.float64)
    if not ((p > 0) & (p < 1)).all():
        raise ValueError(f"p must lie strictly between 0 and 1, got values in [{p.min():.3g}, {p.max():.3g}]")
    out = {}
    for name, cost in (("saturating", saturating_g_loss), ("non_saturating", non_saturating_g_loss)):
        p_ = p.detach().flatten().requires_grad_(True)
        logit = torch.log(p_) - torch.log1p(-p_)
        logit.retain_grad()
        per_sample = torch.stack([cost(v.view(1)) for v in logit])  # each loss is a batch mean
        per_sample.sum().backward()
        out[name] = per_sample.detach().view(p.shape)
        out[f"d_{name}_dp"] = p_.grad.view(p.shape)
        out[f"d_{name}_dlogit"] = logit.grad.view(p.shape)
    return out


def saturation_run(loss: str, x_train: torch.Tensor, steps: int = 1000, seed: int = 0, ngf: int = 16,
                   latent_dim: int = 64, batch_size: int = 64, eval_fn=None, eval_every: int | None = None,
                   progress: bool = False) -> tuple[DCGANGenerator, dict]:
    """Train a DCGAN on ``x_train`` with ``loss`` ("minimax" or "non-saturating", DCGAN recipe)
    and record, per generator step, what G feels and does.

    Returns G and the :func:`train_gan` history with two more per-step lists:
    ``d_fake_prob``, σ of D's mean logit on the fakes of that step's D update (how firmly D
    rejects them), and ``g_update_norm``, ‖θ_G after − θ_G before‖ of the G step (how far G
    actually moved). ``g_grad_norm`` (‖∇_θG J(G)‖) is in the history already.
    """
    if loss not in ("minimax", "non-saturating"):
        raise ValueError(f"loss must be 'minimax' or 'non-saturating', got {loss!r}")
    update_norms = []
    with threads(1), torch.random.fork_rng():   # seeded here, the caller's RNG untouched
        torch.manual_seed(seed)
        G, D = DCGANGenerator(latent_dim=latent_dim, ngf=ngf), DCGANDiscriminator(ndf=ngf)
        before = [torch.cat([p.detach().flatten() for p in G.parameters()])]

        def watch(step, history):
            now = torch.cat([p.detach().flatten() for p in G.parameters()])
            update_norms.append((now - before[0]).norm().item())
            before[0] = now

        history = train_gan(G, D, lambda n, g: x_train[torch.randint(len(x_train), (n,), generator=g)],
                            loss=LOSSES[loss], steps=steps, batch_size=batch_size, seed=seed,
                            eval_fn=eval_fn, eval_every=eval_every, callback=watch, progress=progress)
    history["g_update_norm"] = update_norms
    history["d_fake_prob"] = [1 / (1 + math.exp(-d)) for d in history["d_fake"]]
    return G.eval(), history
