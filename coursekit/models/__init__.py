"""Classifiers (``classifiers.py``), the architecture registry (``registry.py``: :func:`build` by
name) and the pretrained registry (``pretrained.py``, checksummed files in data/pretrained/)."""
from .classifiers import MnistCNN, MnistMLP, Normalize
from .pretrained import available, load_checkpoint, load_pretrained, save_checkpoint
from .registry import ARCHITECTURES, build

__all__ = [
    "ARCHITECTURES", "MnistCNN", "MnistMLP", "Normalize", "build",
    "available", "load_checkpoint", "load_pretrained", "save_checkpoint",
]
