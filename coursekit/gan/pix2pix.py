"""pix2pix: paired image-to-image translation with a conditional GAN.

Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional Adversarial
Networks" (https://arxiv.org/abs/1611.07004). With pairs (x, y) (edges and the photo they
came from), G learns y ≈ G(x) under

    G* = arg min_G max_D  L_cGAN(G, D) + λ·L_L1(G),   λ = 100                   (eq. 4)
    L_cGAN = E[log D(x, y)] + E[log(1 − D(x, G(x)))]                           (eq. 1)
    L_L1   = E‖y − G(x)‖₁                                                      (eq. 3)

D is *conditional*: it sees the input x stacked with a real or generated output, so it
judges whether the output fits this input, not just whether it looks real. L1 makes G get
the low frequencies right; D, a PatchGAN judging N×N patches, the high ones (§3.2.2). G is
a U-Net: an encoder–decoder with skip connections from each encoder layer to the mirrored
decoder layer, so detail of the input (edges!) reaches the output directly (§3.2.1).
D's objective is halved while it trains; G uses the non-saturating −log D(x, G(x)) (§3.3).
Adam 2e-4, β₁ = 0.5, batch norm, dropout in the decoder as the only noise.

Built at the paper's size (``UnetGenerator(3, 3, num_downs=8)``, the official "unet_256")
G has 54.414M parameters, the conditional 70×70 PatchGAN 2.769M (the official code's printout).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from .cyclegan.nets import PatchDiscriminator
from .losses import minimax_d_loss, non_saturating_g_loss
from .nets import dcgan_init
from ..modes import train_mode
from .trainer import step_through_frozen


class UnetBlock(nn.Module):
    """One level of the U-Net: down (conv 4×4 stride 2), the inner levels, up (transposed
    conv 4×4 stride 2), and the skip: the output is [x, up(inner(down(x)))] stacked on channels.
    The outermost level has no skip and ends in tanh; the innermost has no inner levels.
    """

    def __init__(self, outer: int, inner: int, in_channels: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        in_channels = in_channels or outer
        down_conv = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=False)
        if outermost:  # x → conv → ... → ReLU, up-conv, tanh
            up = nn.ConvTranspose2d(2 * inner, outer, 4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif submodule is None:  # innermost: nothing to skip over below
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=False)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up, nn.BatchNorm2d(outer)]
        else:
            up = nn.ConvTranspose2d(2 * inner, outer, 4, stride=2, padding=1, bias=False)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.BatchNorm2d(inner), submodule,
                      nn.ReLU(True), up, nn.BatchNorm2d(outer)] + ([nn.Dropout(0.5)] if dropout else [])
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # (N, outer + outer, H, W): the skip connection


class UnetGenerator(nn.Module):
    """Image (N, in_channels, H, W) in [0, 1] → image (N, out_channels, H, W) in [0, 1].

    ``num_downs`` halvings (8 for 256 px: 256 → 1); H and W must be divisible by 2**num_downs.
    Channels ngf, 2·ngf, 4·ngf, then 8·ngf for every deeper level (encoder C64-C128-C256-C512-
    C512-C512-C512-C512 in the paper's appendix 6.1.1); ``dropout`` on the decoder levels of
    8·ngf channels below the innermost, as the official code.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8,
                 ngf: int = 64, dropout: bool = True):
        super().__init__()
        if not (isinstance(num_downs, int) and num_downs >= 1):
            raise ValueError(f"num_downs must be an int >= 1, got {num_downs!r}")
        self.in_channels, self.num_downs = in_channels, num_downs
        width = [ngf * min(2 ** i, 8) for i in range(num_downs)]  # inner channels of each level
        block = None
        for i in reversed(range(1, num_downs)):
            block = UnetBlock(width[i - 1], width[i], submodule=block,
                              dropout=dropout and block is not None and width[i - 1] == width[i] == 8 * ngf)
        self.net = UnetBlock(out_channels, width[0], in_channels, submodule=block, outermost=True) \
            if num_downs > 1 else _single_level(in_channels, out_channels, ngf)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2 ** self.num_downs
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W) with H and W divisible "
                             f"by {factor}, got {tuple(x.shape)}")
        return (self.net(2 * x - 1) + 1) / 2


def _single_level(in_channels: int, out_channels: int, ngf: int) -> nn.Module:
    """A U-Net of one level: down and straight back up (no skip to take)."""
    return nn.Sequential(nn.Conv2d(in_channels, ngf, 4, stride=2, padding=1), nn.ReLU(True),
                         nn.ConvTranspose2d(ngf, out_channels, 4, stride=2, padding=1), nn.Tanh())


def conditional_discriminator(in_channels: int = 3, out_channels: int = 3, ndf: int = 64,
                              n_layers: int = 3) -> PatchDiscriminator:
    """D(x, y): a PatchGAN with batch norm on the input and output stacked (pix2pix's D)."""
    return PatchDiscriminator(in_channels + out_channels, ndf, n_layers, norm="batch")


# --- the two training steps ---------------------------------------------------------------

def g_step(G: nn.Module, D: nn.Module, x: torch.Tensor, y: torch.Tensor,
           opt_g: torch.optim.Optimizer, lambda_l1: float = 100.0) -> tuple[dict, torch.Tensor]:
    """One update of G on −log D(x, G(x)) + λ·‖y − G(x)‖₁ through a frozen D; returns (losses, G(x))."""
    def loss_fn():
        fake = G(x)
        adv = non_saturating_g_loss(D(torch.cat([x, fake], 1)))
        l1 = (fake - y).abs().mean()
        return adv + lambda_l1 * l1, adv, l1, fake

    loss, adv, l1, fake = step_through_frozen(opt_g, [D], loss_fn)
    return {"g_loss": loss.item(), "adv": adv.item(), "l1": l1.item()}, fake.detach()


def d_step(D: nn.Module, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor,
           opt_d: torch.optim.Optimizer) -> dict:
    """One update of D on ½·(−log D(x, y) − log(1 − D(x, G(x)))), with G(x) detached."""
    loss = 0.5 * minimax_d_loss(D(torch.cat([x, y], 1)), D(torch.cat([x, fake.detach()], 1)))
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    return {"d_loss": loss.item()}


def train_pix2pix(G: nn.Module, D: nn.Module | None, sample_pairs: Callable[[int, torch.Generator], tuple],
                  steps: int, batch_size: int = 1, lambda_l1: float = 100.0, lr: float = 2e-4,
                  betas: tuple[float, float] = (0.5, 0.999), seed: int = 0, progress: bool = True) -> dict:
    """Train G (and D) for ``steps`` iterations on pairs from ``sample_pairs(n, generator)`` → (x, y).

    With ``D=None`` only the L1 term is trained: the paper's "L1 alone" baseline (Table 1).
    Returns the per-step losses.
    The networks train in train mode and come back in the modes they came in.
    """
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas) if D is not None else None
    history: dict = {}
    with train_mode(G, D):   # and back to the modes they came in
        for _ in tqdm(range(steps), desc="pix2pix", disable=not progress):
            x, y = (t.to(device) for t in sample_pairs(batch_size, g))
            if D is None:
                fake = G(x)
                l1 = (fake - y).abs().mean()
                opt_g.zero_grad(set_to_none=True)
                l1.backward()
                opt_g.step()
                losses = {"l1": l1.item()}
            else:
                losses, fake = g_step(G, D, x, y, opt_g, lambda_l1)
                losses.update(d_step(D, x, y, fake, opt_d))
            for key, value in losses.items():
                history.setdefault(key, []).append(value)
    return history
