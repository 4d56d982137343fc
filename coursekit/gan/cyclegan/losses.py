"""The CycleGAN objective and its two training steps (Zhu et al. 2017, eq. 2 and 3, §4, §5.2):
cycle, identity and least-squares adversarial losses, one generator step through frozen
discriminators and one discriminator step.

Neighbours in ``coursekit/gan/cyclegan/``: the networks are in ``nets.py``, the training loop
that calls these steps in ``training.py``; the least-squares losses themselves are the course's
(``coursekit/gan/losses.py``).
"""
from __future__ import annotations

import torch
from torch import nn

from ..losses import lsgan_d_loss, lsgan_g_loss
from ..trainer import step_through_frozen
from .nets import CycleGANGenerators


def cycle_loss(x: torch.Tensor, x_reconstructed: torch.Tensor) -> torch.Tensor:
    """‖F(G(x)) − x‖₁, averaged over pixels (Zhu et al. 2017, eq. 2)."""
    return (x_reconstructed - x).abs().mean()


def identity_loss(y: torch.Tensor, g_of_y: torch.Tensor) -> torch.Tensor:
    """‖G(y) − y‖₁: G should leave an image that is already in its target domain alone (§5.2)."""
    return (g_of_y - y).abs().mean()


def generator_adversarial_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """E[(D(G(x)) − 1)²] (Zhu et al. 2017, §4): twice the course's Mao et al. G loss, whose ½ the
    paper does not use for G, so that λ = 10 weighs the cycle term as in the paper."""
    return 2 * lsgan_g_loss(d_fake)


def generator_losses(gens: CycleGANGenerators, d_a: nn.Module, d_b: nn.Module, real_a: torch.Tensor,
                     real_b: torch.Tensor, lambda_cycle: float = 10.0, lambda_identity: float = 0.5,
                     lambda_cycle_b: float | None = None) -> tuple[torch.Tensor, dict, torch.Tensor, torch.Tensor]:
    """The generators' objective (eq. 3 + identity). Returns (total, its terms, fake_a, fake_b).

    ``lambda_cycle_b`` (default: ``lambda_cycle``) weighs the B → A → B cycle and G's identity term.
    """
    lambda_b = lambda_cycle if lambda_cycle_b is None else lambda_cycle_b
    fake_b = gens.g_ab(real_a)   # G(x)
    fake_a = gens.g_ba(real_b)   # F(y)
    terms = {
        "adv_ab": generator_adversarial_loss(d_b(fake_b)),
        "adv_ba": generator_adversarial_loss(d_a(fake_a)),
        "cycle_a": cycle_loss(real_a, gens.g_ba(fake_b)),   # x → G(x) → F(G(x)) ≈ x
        "cycle_b": cycle_loss(real_b, gens.g_ab(fake_a)),   # y → F(y) → G(F(y)) ≈ y
    }
    total = terms["adv_ab"] + terms["adv_ba"] + lambda_cycle * terms["cycle_a"] + lambda_b * terms["cycle_b"]
    if lambda_identity > 0:
        terms["identity_a"] = identity_loss(real_a, gens.g_ba(real_a))
        terms["identity_b"] = identity_loss(real_b, gens.g_ab(real_b))
        total = total + lambda_identity * (lambda_cycle * terms["identity_a"] + lambda_b * terms["identity_b"])
    return total, terms, fake_a, fake_b


def g_step(gens, d_a, d_b, real_a, real_b, opt_g, lambda_cycle: float = 10.0,
           lambda_identity: float = 0.5, lambda_cycle_b: float | None = None
           ) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """One update of both generators through frozen discriminators.

    Returns (losses as floats, fake_a, fake_b detached, for the D step)."""
    total, terms, fake_a, fake_b = step_through_frozen(
        opt_g, [d_a, d_b], lambda: generator_losses(gens, d_a, d_b, real_a, real_b, lambda_cycle,
                                                    lambda_identity, lambda_cycle_b))
    losses = {"g_loss": total.item(), **{k: v.item() for k, v in terms.items()}}
    return losses, fake_a.detach(), fake_b.detach()


def discriminator_loss(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """½·(E[(D(y) − 1)²] + E[D(G(x))²]) over every patch; ``fake`` is detached (G stays out)."""
    return lsgan_d_loss(D(real), D(fake.detach()))


def d_step(d_a, d_b, real_a, real_b, pooled_fake_a, pooled_fake_b, opt_d) -> dict:
    """One update of both discriminators, each on its domain's real images and pooled fakes."""
    loss_a = discriminator_loss(d_a, real_a, pooled_fake_a)
    loss_b = discriminator_loss(d_b, real_b, pooled_fake_b)
    opt_d.zero_grad(set_to_none=True)
    (loss_a + loss_b).backward()
    opt_d.step()
    return {"d_a": loss_a.item(), "d_b": loss_b.item()}
