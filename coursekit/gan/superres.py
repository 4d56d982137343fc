"""Super-resolution ×4: bicubic interpolation, a network trained with L1, and SRGAN.

The training data are free: downscale any image and learn to undo it. Three ways up:

* **bicubic** interpolation, the classic baseline (no learning);
* **L1**: a network trained to minimise ‖G(x_low) − x_high‖₁ per pixel, which gets the PSNR
  right and the texture wrong: where several sharp images fit one low-resolution input, the
  loss is smallest for their blurred mean (as with the autoencoder of notebook 04);
* **SRGAN** (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
  Generative Adversarial Network", https://arxiv.org/abs/1609.04802): the same generator,
  initialised from the L1 one (the paper starts from its MSE-trained SRResNet), trained on
  the perceptual loss (eq. 3)

      l_SR = l_X + 10⁻³ · l_Gen

  where l_X is a *content* loss, the squared distance between feature maps of a trained
  classifier (eq. 5: VGG19's φ_5,4; here the last convolution block of the course's MNIST
  classifier "mnist-cnn"), and l_Gen = −log D(G(x_low)) is the adversarial loss (eq. 6). D
  pulls the output toward the set of sharp images instead of toward their average, so SRGAN
  loses some PSNR and gains realism (lower FID), which is the paper's finding (Table 2).

The generator is SRResNet (Ledig et al. 2017, Fig. 4) at small scale: a 9×9 convolution,
residual blocks (conv, batch norm, PReLU, conv, batch norm), a long skip, then ×2 sub-pixel
upsampling (PixelShuffle, Shi et al. 2016) twice and a 9×9 convolution. D follows the
paper's discriminator (strided 3×3 convolutions with batch norm and LeakyReLU, then two
dense layers), narrowed for 28 px.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..train import EVAL_BATCH, predict
from .losses import minimax_d_loss, non_saturating_g_loss
from ..modes import eval_mode, train_mode
from .trainer import step_through_frozen

FACTOR = 4


# --- data and baselines -------------------------------------------------------------------

def downscale(x: torch.Tensor, factor: int = FACTOR) -> torch.Tensor:
    """The low-resolution copy: each factor×factor block averaged (box filter), (N, C, H/f, W/f)."""
    if not (isinstance(factor, int) and factor >= 1):
        raise ValueError(f"factor must be an int >= 1, got {factor!r}")
    if x.ndim != 4 or x.shape[2] % factor or x.shape[3] % factor:
        raise ValueError(f"x must have shape (N, C, H, W) with H and W divisible by {factor}, "
                         f"got {tuple(x.shape)}")
    return F.avg_pool2d(x, factor)


def bicubic(x_low: torch.Tensor, factor: int = FACTOR) -> torch.Tensor:
    """Bicubic interpolation up by ``factor`` (Keys' kernel, a = −0.75 as in PyTorch), clipped to [0, 1]."""
    return F.interpolate(x_low, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)


def psnr(x: torch.Tensor, reference: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for pixels in [0, 1]: 10·log10(1 / MSE), computed per
    image and averaged over the batch (images that match exactly are capped at 100 dB)."""
    if x.shape != reference.shape:
        raise ValueError(f"x and reference must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(reference.shape)}")
    mse = (x.float() - reference.float()).square().flatten(1).mean(1)  # (N,)
    return (10 * torch.log10(1 / mse.clamp_min(1e-10))).mean().item()


# --- networks -----------------------------------------------------------------------------

class ResidualBlock(nn.Module):
    """x + (conv 3×3, BN, PReLU, conv 3×3, BN)(x) (Ledig et al. 2017, Fig. 4, after He et al.)."""

    def __init__(self, nf: int):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(nf, nf, 3, padding=1), nn.BatchNorm2d(nf), nn.PReLU(nf),
                                   nn.Conv2d(nf, nf, 3, padding=1), nn.BatchNorm2d(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class SRGenerator(nn.Module):
    """SRResNet: image (N, C, h, w) in [0, 1] → image (N, C, 4h, 4w) in [0, 1].

    ``n_blocks`` residual blocks of ``nf`` channels (the paper: 16 of 64), then
    log2(``factor``) ×2 upsampling stages (conv to 4·nf channels, PixelShuffle(2), PReLU).
    """

    def __init__(self, channels: int = 1, nf: int = 32, n_blocks: int = 4, factor: int = FACTOR):
        super().__init__()
        if factor < 2 or factor & (factor - 1):
            raise ValueError(f"factor must be a power of 2 (>= 2), got {factor!r}")
        self.channels, self.factor = channels, factor
        self.head = nn.Sequential(nn.Conv2d(channels, nf, 9, padding=4), nn.PReLU(nf))
        self.body = nn.Sequential(*[ResidualBlock(nf) for _ in range(n_blocks)],
                                  nn.Conv2d(nf, nf, 3, padding=1), nn.BatchNorm2d(nf))
        up = []
        for _ in range(int(math.log2(factor))):  # (N, nf, h, w) → (N, nf, 2h, 2w)
            up += [nn.Conv2d(nf, 4 * nf, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(nf)]
        self.tail = nn.Sequential(*up, nn.Conv2d(nf, channels, 9, padding=4), nn.Tanh())

    def forward(self, x_low: torch.Tensor) -> torch.Tensor:
        if x_low.ndim != 4 or x_low.shape[1] != self.channels:
            raise ValueError(f"x_low must have shape (N, {self.channels}, h, w), got {tuple(x_low.shape)}")
        h = self.head(2 * x_low - 1)
        h = h + self.body(h)  # the long skip connection
        return (self.tail(h) + 1) / 2


class SRDiscriminator(nn.Module):
    """Image (N, C, H, W) → logit (N,): 3×3 convolutions alternating stride 1 and 2 (k3n64s1,
    k3n64s2, k3n128s1, k3n128s2 ...), BN after all but the first, LeakyReLU(0.2), then
    Dense(hidden), LeakyReLU, Dense(1) (Ledig et al. 2017, Fig. 4, with ``ndf`` for 64)."""

    def __init__(self, channels: int = 1, ndf: int = 32, image_size: int = 28, hidden: int = 256):
        super().__init__()
        layers, c, size = [], channels, image_size
        for i, (c_out, stride) in enumerate([(ndf, 1), (ndf, 2), (2 * ndf, 1), (2 * ndf, 2)]):
            layers += [nn.Conv2d(c, c_out, 3, stride=stride, padding=1)]
            layers += [nn.BatchNorm2d(c_out)] if i > 0 else []
            layers += [nn.LeakyReLU(0.2, True)]
            c, size = c_out, (size + 2 - 3) // stride + 1
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * size * size, hidden),
                                  nn.LeakyReLU(0.2, True), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(2 * x - 1)).squeeze(1)


def classifier_features(classifier: nn.Sequential, layer: int = 13) -> nn.Module:
    """The first ``layer`` + 1 layers of a sequential classifier, frozen, in eval mode: the
    content-loss network. For "mnist-cnn", layer 13 is the ReLU after its last convolution
    (N, 32, 14, 14), the analogue of VGG19's φ_5,4 (the last conv before the last pooling)."""
    body = nn.Sequential(*list(classifier.children())[:layer + 1]).eval()
    return body.requires_grad_(False)


def content_loss(phi: nn.Module, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """l_X = mean squared distance between φ(G(x_low)) and φ(x_high) (Ledig et al. 2017, eq. 5)."""
    return (phi(fake) - phi(real)).square().mean()


# --- the training steps -------------------------------------------------------------------

def l1_step(G: nn.Module, x_low: torch.Tensor, x_high: torch.Tensor, opt: torch.optim.Optimizer) -> dict:
    """One update of G on ‖G(x_low) − x_high‖₁."""
    loss = (G(x_low) - x_high).abs().mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"l1": loss.item()}


def srgan_g_step(G: nn.Module, D: nn.Module, phi: nn.Module, x_low: torch.Tensor, x_high: torch.Tensor,
                 opt_g: torch.optim.Optimizer, adversarial_weight: float = 1e-3) -> tuple[dict, torch.Tensor]:
    """One update of G on l_X + 10⁻³·l_Gen (eq. 3) through a frozen D; returns (losses, G(x_low))."""
    def loss_fn():
        fake = G(x_low)
        l_x, l_gen = content_loss(phi, fake, x_high), non_saturating_g_loss(D(fake))
        return l_x + adversarial_weight * l_gen, l_x, l_gen, fake

    loss, l_x, l_gen, fake = step_through_frozen(opt_g, [D], loss_fn)
    return {"g_loss": loss.item(), "content": l_x.item(), "adv": l_gen.item()}, fake.detach()


def srgan_d_step(D: nn.Module, x_high: torch.Tensor, fake: torch.Tensor, opt_d: torch.optim.Optimizer) -> dict:
    """One update of D on −log D(x_high) − log(1 − D(G(x_low))) (eq. 2), G(x_low) detached."""
    loss = minimax_d_loss(D(x_high), D(fake.detach()))
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    return {"d_loss": loss.item()}


def train_sr(G: nn.Module, sample_high: Callable[[int, torch.Generator], torch.Tensor], steps: int,
             batch_size: int = 16, lr: float = 1e-4, D: nn.Module | None = None,
             phi: nn.Module | None = None, adversarial_weight: float = 1e-3, seed: int = 0,
             schedule: str = "constant", eval_fn: Callable[[nn.Module], dict] | None = None,
             eval_every: int | None = None, progress: bool = True) -> dict:
    """Train G for ``steps`` on high-resolution batches from ``sample_high(n, generator)``
    (their downscaled copies are the inputs). Without ``D``: L1 training. With ``D`` and the
    content network ``phi``: SRGAN. Adam with β₁ = 0.9 and lr 10⁻⁴, the paper's (§3.2);
    ``schedule="cosine"`` lowers G's rate to 0 along a half cosine (Loshchilov & Hutter 2017),
    so that a short run ends converged rather than wherever the last steps left it.

    Returns the per-step losses and ``evals``: every ``eval_every`` steps (and after the last)
    a dict with ``step`` and ``eval_fn(G)``, computed with G in eval mode. The networks train in
    train mode and come back in the modes they came in."""
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if (D is None) != (phi is None):
        raise ValueError("SRGAN training needs both D and phi (the content network); L1 needs neither")
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.9, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.9, 0.999)) if D is not None else None
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt_g, steps) if schedule == "cosine" else None
    factor = getattr(G, "factor", FACTOR)
    history: dict = {"evals": []}
    with train_mode(G, D):   # and back to the modes they came in
        for step in tqdm(range(steps), desc="SRGAN" if D is not None else "SR (L1)",
                         disable=not progress):
            x_high = sample_high(batch_size, g).to(device)
            x_low = downscale(x_high, factor)
            if D is None:
                losses = l1_step(G, x_low, x_high, opt_g)
            else:
                losses, fake = srgan_g_step(G, D, phi, x_low, x_high, opt_g, adversarial_weight)
                losses.update(srgan_d_step(D, x_high, fake, opt_d))
            if decay is not None:
                decay.step()
            for key, value in losses.items():
                history.setdefault(key, []).append(value)
            if eval_fn is not None and eval_every and ((step + 1) % eval_every == 0 or step + 1 == steps):
                with torch.no_grad(), eval_mode(G):
                    history["evals"].append({"step": step + 1, **eval_fn(G)})
    return history


def feature_fid(phi: nn.Module, images: torch.Tensor, reference: torch.Tensor, batch_size: int = EVAL_BATCH) -> float:
    """FID (Heusel et al. 2017) between ``images`` and ``reference`` in the features of ``phi``,
    e.g. :func:`classifier_features` of a classifier that no model being compared has trained
    against (SRGAN's content loss uses "mnist-cnn", whose features the default FID also uses)."""
    from ..metrics import frechet_distance

    with torch.no_grad():
        return frechet_distance(predict(phi, images, batch_size), predict(phi, reference, batch_size))


def upscale(G: nn.Module, x_low: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """G(x_low) in eval mode, batch by batch, on G's device (G's mode restored after)."""
    return predict(G, x_low, batch_size)
