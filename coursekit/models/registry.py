"""The architecture registry: every network the course builds by name, classifiers and GAN
networks alike, and :func:`build`, which makes a fresh one. The pretrained registry
(``pretrained.py``) and checkpoints refer to models by these names.

Neighbours: the classifiers are defined in ``classifiers.py``; the GAN networks in
``coursekit.gan`` (``nets``, ``cyclegan``, ``pix2pix``, ``superres``).
"""
from __future__ import annotations

from torch import nn

from ..gan.cyclegan.nets import CycleGANGenerators
from ..gan.nets import ClassCodeDCGANGenerator, ConditionalDCGANGenerator, DCGANGenerator
from ..gan.pix2pix import UnetGenerator
from ..gan.superres import SRGenerator
from .classifiers import MnistCNN, MnistLeNet, MnistMLP, MnistSmallCNN

# name -> constructor; the pretrained registry and checkpoints refer to models by these names.
ARCHITECTURES = {"mnist-cnn": MnistCNN, "mnist-mlp": MnistMLP, "dcgan-generator": DCGANGenerator,
                 "cdcgan-generator": ConditionalDCGANGenerator, "class-code-dcgan-generator": ClassCodeDCGANGenerator,
                 "mnist-lenet": MnistLeNet, "mnist-cnn-small": MnistSmallCNN,
                 "cyclegan-generators": CycleGANGenerators, "unet-generator": UnetGenerator,
                 "sr-generator": SRGenerator}


def build(arch: str, **kwargs) -> nn.Module:
    """A fresh, randomly initialised model of architecture ``arch``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
    return ARCHITECTURES[arch](**kwargs)
