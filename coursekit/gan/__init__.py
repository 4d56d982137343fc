"""Generative adversarial networks: losses, networks, the trainer, toy data and mode metrics."""
from .losses import LOSSES, GANLoss, get_loss
from .nets import (ClassCodeDCGANGenerator, ConditionalDCGANDiscriminator, ConditionalDCGANGenerator, DCGANDiscriminator,
                   DCGANGenerator, MLPDiscriminator, MLPGenerator, VirtualBatchNorm)
from .toys import gaussian_1d, grid, grid_modes, mixture, mode_metrics, ring, ring_modes
from .trainer import d_step, g_step, train_gan

__all__ = [
    "LOSSES", "GANLoss", "get_loss",
    "ClassCodeDCGANGenerator", "ConditionalDCGANDiscriminator", "ConditionalDCGANGenerator", "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator", "VirtualBatchNorm",
    "gaussian_1d", "grid", "grid_modes", "mixture", "mode_metrics", "ring", "ring_modes",
    "d_step", "g_step", "train_gan",
]
