"""Datasets, all available offline: the shipped MNIST and (as the course grows) toys and MNIST-M."""
from .mnist import MNIST, mnist

__all__ = ["MNIST", "mnist"]
