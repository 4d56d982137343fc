"""Datasets, all available offline: the shipped MNIST, MNIST-M built from it, and (as the course
grows) toys and the image-translation pairs."""
from .mnist import MNIST, mnist
from .mnist_m import MNISTM, mnist_m

__all__ = ["MNIST", "MNISTM", "mnist", "mnist_m"]
