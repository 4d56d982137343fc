"""The CycleGAN recipe: its hyperparameters (:class:`CycleGANConfig`, the paper's and the
course's :data:`PRESETS`), the networks a config builds, the image pool D learns from, the
constant-then-linear learning-rate schedule and the training loop (Zhu et al. 2017, §4 and §7.2).

Neighbours in ``coursekit/gan/cyclegan/``: the networks are in ``nets.py``, the losses and the
two steps the loop takes in ``losses.py``, judging a translation in ``evaluation.py``; the
pretrained "mnist-cyclegan" is made by ``coursekit/pretrain/translation.py``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ...modes import train_mode
from .losses import d_step, g_step
from .nets import CycleGANGenerators, PatchDiscriminator


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


# --- the training loop -------------------------------------------------------------------

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
    The networks train in train mode and come back in the modes they came in.
    """
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    c = config
    device = next(gens.parameters()).device
    g = torch.Generator().manual_seed(seed)
    opt_g, opt_d, schedulers = make_optimizers(gens, d_a, d_b, c, steps)
    pool_a, pool_b = ImagePool(c.pool_size, g), ImagePool(c.pool_size, g)
    history: dict = {"evals": []}
    with train_mode(gens, d_a, d_b):   # and back to the modes they came in
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
    return history
