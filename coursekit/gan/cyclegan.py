"""CycleGAN: unpaired image-to-image translation with a cycle-consistency loss.

Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (https://arxiv.org/abs/1703.10593). Two generators and two
discriminators; symbol table (paper → code → the official repository's names):

    G : X → Y      g_ab    netG_A          D_Y   d_b   netD_A   (judges domain B)
    F : Y → X      g_ba    netG_B          D_X   d_a   netD_B   (judges domain A)

The full objective (eq. 3, plus the identity term of §5.2):

    L = L_GAN(G, D_Y) + L_GAN(F, D_X) + λ·(‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁)     (eq. 2: cycle)
        + λ·λ_id·(‖G(y) − y‖₁ + ‖F(x) − x‖₁)                                   (identity)

with least-squares adversarial losses (§4, "Training details"): G minimises
E[(D(G(x)) − 1)²], D minimises ½·(E[(D(y) − 1)²] + E[D(G(x))²]), and D sees fakes drawn from
a pool of the last 50 generated images (Shrivastava et al. 2017, §3.2). Adam 2e-4, β₁ = 0.5;
the learning rate is constant for 100 epochs, then decays linearly to 0 over 100 more.

Networks (appendix 7.2): the ResNet generator of Johnson et al. 2016 (c7s1-64, d128, d256,
9 residual blocks for 256 px (6 for 128 px), u128, u64, c7s1-3) and the 70×70 PatchGAN
(C64-C128-C256-C512, then a 1-channel convolution), both with instance norm. Built with
the paper's sizes they have 11.378M and 2.765M parameters, the figures the official code
prints ("Total number of parameters : 11.378 M" for G_A, "2.765 M" for D_A).

Images are in [0, 1] as everywhere in the course; the generator maps them to [−1, 1] on the
way in and its tanh output back to [0, 1] on the way out (an affine map, no parameters).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..train import predict
from .losses import lsgan_d_loss, lsgan_g_loss
from .nets import dcgan_init
from .trainer import frozen


# --- networks -----------------------------------------------------------------------------

def norm_layer(kind: str, channels: int) -> nn.Module:
    """Instance norm without affine parameters (CycleGAN) or batch norm (pix2pix)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"norm must be 'instance' or 'batch', got {kind!r}")


class ResnetBlock(nn.Module):
    """x + (pad, conv 3×3, norm, ReLU, pad, conv 3×3, norm)(x): the residual block "R256"."""

    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Image (N, in_channels, H, W) in [0, 1] → image (N, out_channels, H, W) in [0, 1].

    c7s1-ngf, ``n_down`` stride-2 convolutions (d2·ngf, d4·ngf), ``n_blocks`` residual blocks,
    ``n_down`` stride-2 transposed convolutions, c7s1-out, tanh (Zhu et al. 2017, §7.2).
    H and W must be divisible by 2**n_down.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64,
                 n_blocks: int = 9, n_down: int = 2):
        super().__init__()
        for name, value, low in (("in_channels", in_channels, 1), ("out_channels", out_channels, 1),
                                 ("ngf", ngf, 1), ("n_blocks", n_blocks, 0), ("n_down", n_down, 0)):
            if not (isinstance(value, int) and value >= low):
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.in_channels, self.out_channels, self.n_down = in_channels, out_channels, n_down
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(n_down):  # (N, ngf·2^i, H/2^i, W/2^i) → (N, ngf·2^(i+1), H/2^(i+1), ...)
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
        c = ngf * 2 ** n_down
        layers += [ResnetBlock(c) for _ in range(n_blocks)]
        for i in range(n_down):  # and back up
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)  # N(0, 0.02), as the official code's init_type="normal"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2 ** self.n_down
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W) with H and W divisible "
                             f"by {factor}, got {tuple(x.shape)}")
        return (self.net(2 * x - 1) + 1) / 2  # [0, 1] → [−1, 1] → tanh → [0, 1]


class PatchDiscriminator(nn.Module):
    """PatchGAN: image (N, C, H, W) → a map of raw scores (N, 1, H', W'), one per patch.

    C64 (no norm), then C128, C256 (stride 2), C512 (stride 1), then a 1-channel conv, all
    4×4 with LeakyReLU(0.2) (Isola et al. 2017, §6.1.2; Zhu et al. 2017, §7.2). ``n_layers``
    = 3 gives the 70×70 receptive field (:func:`receptive_field`); 2 gives 34×34, 1 gives 16×16.
    The convolutions carry biases only with instance norm, as in the official code.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        if not (isinstance(n_layers, int) and n_layers >= 1):
            raise ValueError(f"n_layers must be an int >= 1, got {n_layers!r}")
        bias = norm == "instance"
        layers = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        c = ndf
        for i in range(1, n_layers + 1):
            c_out = ndf * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(c, c_out, 4, stride=stride, padding=1, bias=bias),
                       norm_layer(norm, c_out), nn.LeakyReLU(0.2, True)]
            c = c_out
        layers += [nn.Conv2d(c, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)
        self.in_channels, self.n_layers = in_channels, n_layers
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.net(2 * x - 1)


def receptive_field(n_layers: int = 3, kernel: int = 4) -> int:
    """Receptive field of one output of :class:`PatchDiscriminator`: 1 + Σ (k − 1)·(stride product)."""
    strides = [2] * n_layers + [1, 1]
    field, jump = 1, 1
    for s in strides:
        field += (kernel - 1) * jump
        jump *= s
    return field


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- the recipe ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CycleGANConfig:
    """Networks and training hyperparameters; the defaults are Zhu et al. 2017's recipe.

    ``lambda_identity`` multiplies ``lambda_cycle`` (the official code's λ_idt = 0.5, so the
    identity term weighs 5). ``lambda_cycle_b`` weighs the B → A → B cycle on its own when set
    (the official code's separate ``lambda_A`` and ``lambda_B``); None means ``lambda_cycle``.
    The learning rate is constant for the first epochs_constant / (epochs_constant +
    epochs_decay) of training, then decays linearly to 0.
    """

    channels_a: int = 3
    channels_b: int = 3
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    n_down: int = 2
    n_layers_d: int = 3
    norm_d: str = "instance"
    image_size: int = 256
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_cycle_b: float | None = None
    pool_size: int = 50
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 1
    epochs_constant: int = 100
    epochs_decay: int = 100

    def __post_init__(self):
        if self.lambda_identity > 0 and self.channels_a != self.channels_b:
            raise ValueError(f"the identity loss compares G(y) with y, so it needs channels_a == "
                             f"channels_b, got {self.channels_a} and {self.channels_b}; set "
                             f"lambda_identity=0")
        if self.lambda_cycle < 0 or self.lambda_identity < 0 or (self.lambda_cycle_b or 0) < 0:
            raise ValueError(f"lambda_cycle, lambda_cycle_b and lambda_identity must be >= 0, got "
                             f"{self.lambda_cycle}, {self.lambda_cycle_b} and {self.lambda_identity}")


PRESETS = {
    # Zhu et al. 2017, §4 and §7.2: 256 px, ResNet-9, 70×70 PatchGAN, batch 1, 100 + 100 epochs.
    "zhu2017": CycleGANConfig(),
    # 128 px: the paper's 6-block generator.
    "zhu2017-128": CycleGANConfig(n_blocks=6, image_size=128),
    # MNIST (1 channel) ↔ MNIST-M (3 channels), 28 px, on a laptop CPU: a narrow generator (16
    # base channels, 6 blocks at 7×7), a 34×34 PatchGAN (about the whole digit), batches of 16.
    # The identity term needs equal channel counts, so it is off (the official code asserts so).
    # MNIST-M → MNIST throws the photo away, so the cycle B → A → B can only be closed by hiding
    # the background in F's digits (Chu et al. 2017); at full weight F draws outlines instead of
    # strokes on bright photos. That cycle weighs 2 instead of 10 (the official code's lambda_B).
    "mnist": CycleGANConfig(channels_a=1, channels_b=3, ngf=16, ndf=32, n_blocks=6, n_layers_d=2,
                            image_size=28, lambda_identity=0.0, lambda_cycle_b=2.0, batch_size=16,
                            epochs_constant=1, epochs_decay=1),
}


def get_preset(name: str, **changes) -> CycleGANConfig:
    """The preset ``name`` (see :data:`PRESETS`), with fields overridden by ``changes``."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return replace(PRESETS[name], **changes)


class CycleGANGenerators(nn.Module):
    """The two generators, as shipped in "mnist-cyclegan": ``g_ab`` (A → B) and ``g_ba`` (B → A)."""

    def __init__(self, channels_a: int = 1, channels_b: int = 3, ngf: int = 16, n_blocks: int = 6,
                 n_down: int = 2):
        super().__init__()
        self.g_ab = ResnetGenerator(channels_a, channels_b, ngf, n_blocks, n_down)
        self.g_ba = ResnetGenerator(channels_b, channels_a, ngf, n_blocks, n_down)

    def forward(self, x_a: torch.Tensor) -> torch.Tensor:
        """A → B → A, the cycle reconstruction of ``x_a``."""
        return self.g_ba(self.g_ab(x_a))


def build_cyclegan(config: CycleGANConfig = PRESETS["zhu2017"]):
    """(generators, D_a, D_b) for ``config``, freshly initialised."""
    c = config
    gens = CycleGANGenerators(c.channels_a, c.channels_b, c.ngf, c.n_blocks, c.n_down)
    d_a = PatchDiscriminator(c.channels_a, c.ndf, c.n_layers_d, c.norm_d)
    d_b = PatchDiscriminator(c.channels_b, c.ndf, c.n_layers_d, c.norm_d)
    return gens, d_a, d_b


def generator_kwargs(config: CycleGANConfig) -> dict:
    """The arguments of :class:`CycleGANGenerators` that ``config`` implies (for the registry)."""
    return {"channels_a": config.channels_a, "channels_b": config.channels_b, "ngf": config.ngf,
            "n_blocks": config.n_blocks, "n_down": config.n_down}


# --- the image pool -----------------------------------------------------------------------

class ImagePool:
    """A history of generated images (Shrivastava et al. 2017, §3.2; Zhu et al. 2017, §4).

    D is updated on fakes from the pool rather than only the newest ones, so that it does not
    forget what G produced a while ago and G cannot win by cycling between modes. Until the
    pool holds ``size`` images each new image is stored and returned; after that, each new
    image is returned as is with probability ½, or swapped with a random stored image, which
    is returned in its place. ``size`` = 0 turns the pool off.
    """

    def __init__(self, size: int = 50, generator: torch.Generator | None = None):
        if not (isinstance(size, int) and size >= 0):
            raise ValueError(f"size must be an int >= 0, got {size!r}")
        self.size, self.generator, self.images = size, generator, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) → N images from the pool (detached)."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(1, generator=self.generator).item() < 0.5:
                i = int(torch.randint(len(self.images), (1,), generator=self.generator))
                out.append(self.images[i])
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)


# --- losses and the two training steps -----------------------------------------------------

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
    with frozen(d_a, d_b):
        total, terms, fake_a, fake_b = generator_losses(gens, d_a, d_b, real_a, real_b,
                                                        lambda_cycle, lambda_identity, lambda_cycle_b)
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        opt_g.step()
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


def linear_decay(step: int, steps: int, decay_from: int) -> float:
    """Learning-rate factor: 1 until ``decay_from``, then linearly down to 0 at ``steps``."""
    if step < decay_from:
        return 1.0
    return max(0.0, 1.0 - (step - decay_from) / max(1, steps - decay_from))


def make_optimizers(gens, d_a, d_b, config: CycleGANConfig, steps: int):
    """Adam for both generators together and both discriminators together (as the official
    code), each with the constant-then-linear schedule. Returns (opt_g, opt_d, schedulers)."""
    c = config
    opt_g = torch.optim.Adam(gens.parameters(), lr=c.lr, betas=tuple(c.betas))
    opt_d = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), lr=c.lr,
                             betas=tuple(c.betas))
    decay_from = round(steps * c.epochs_constant / (c.epochs_constant + c.epochs_decay))
    rule = lambda step: linear_decay(step, steps, decay_from)  # noqa: E731
    return opt_g, opt_d, [torch.optim.lr_scheduler.LambdaLR(o, rule) for o in (opt_g, opt_d)]


SampleDomain = Callable[[int, torch.Generator], torch.Tensor]


def train_cyclegan(gens: CycleGANGenerators, d_a: nn.Module, d_b: nn.Module, sample_a: SampleDomain,
                   sample_b: SampleDomain, config: CycleGANConfig, steps: int, seed: int = 0,
                   eval_fn: Callable[[CycleGANGenerators], dict] | None = None,
                   eval_every: int | None = None, progress: bool = True) -> dict:
    """Train for ``steps`` iterations: each draws a batch from each domain (unpaired), takes a
    generator step, puts the fakes through the image pools and takes a discriminator step.

    ``sample_a(n, generator)`` / ``sample_b`` return n images of a domain. Returns the history:
    per-step lists of every loss, and ``evals`` (dicts with ``step``) from ``eval_fn(gens)``.
    """
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    c = config
    device = next(gens.parameters()).device
    g = torch.Generator().manual_seed(seed)
    opt_g, opt_d, schedulers = make_optimizers(gens, d_a, d_b, c, steps)
    pool_a, pool_b = ImagePool(c.pool_size, g), ImagePool(c.pool_size, g)
    history: dict = {"evals": []}
    for module in (gens, d_a, d_b):
        module.train()
    for step in tqdm(range(steps), desc="CycleGAN", disable=not progress):
        real_a = sample_a(c.batch_size, g).to(device)
        real_b = sample_b(c.batch_size, g).to(device)
        g_losses, fake_a, fake_b = g_step(gens, d_a, d_b, real_a, real_b, opt_g,
                                          c.lambda_cycle, c.lambda_identity, c.lambda_cycle_b)
        d_losses = d_step(d_a, d_b, real_a, real_b, pool_a.query(fake_a), pool_b.query(fake_b), opt_d)
        for scheduler in schedulers:
            scheduler.step()
        for key, value in {**g_losses, **d_losses}.items():
            history.setdefault(key, []).append(value)
        if eval_fn is not None and eval_every and ((step + 1) % eval_every == 0 or step + 1 == steps):
            history["evals"].append({"step": step + 1, **eval_fn(gens)})
            gens.train()
    for module in (gens, d_a, d_b):
        module.eval()
    return history


# --- judging a translation ----------------------------------------------------------------

def translate(G: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """G(x) in eval mode, ``batch_size`` images at a time, on G's device; G's mode is restored
    (:func:`coursekit.train.predict`, which does the same for any network)."""
    return predict(G, x, batch_size)


def translation_accuracy(G: nn.Module, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         batch_size: int = 500) -> float:
    """Semantic consistency: the share of translations G(x) that a classifier trained on the
    target domain labels as ``y``, the label of x. The small-scale analogue of the FCN score
    of Zhu et al. 2017 (§5.1.1, after Isola et al. 2017), where a segmentation network reads
    the translated photos."""
    from ..train import accuracy

    return accuracy(classifier, translate(G, x, batch_size), y, batch_size)
