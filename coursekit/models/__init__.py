"""Classifiers and the pretrained registry (checksummed files in data/pretrained/)."""
from .classifiers import ARCHITECTURES, MnistCNN, MnistMLP, Normalize, build
from .pretrained import available, load_checkpoint, load_pretrained, save_checkpoint

__all__ = [
    "ARCHITECTURES", "MnistCNN", "MnistMLP", "Normalize", "build",
    "available", "load_checkpoint", "load_pretrained", "save_checkpoint",
]
