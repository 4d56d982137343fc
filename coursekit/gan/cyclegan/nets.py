"""The CycleGAN networks (Zhu et al. 2017, appendix 7.2): the ResNet generator of Johnson et
al. 2016, the 70×70 PatchGAN discriminator (also pix2pix's), and the pair of generators G and F
that is shipped as "mnist-cyclegan". Images are in [0, 1]; each network maps them to [−1, 1] on
the way in.

Neighbours in ``coursekit/gan/cyclegan/``: the losses and the two training steps are in
``losses.py``, the recipe (config, presets, image pool, training loop) in ``training.py``,
judging a translation in ``evaluation.py``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..nets import dcgan_init


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
