"""Feature networks for the metrics, and batched feature extraction from images.

``"mnist"`` (offline, the default): the course's shipped classifier "mnist-cnn"
(``load_pretrained("mnist-cnn")``, checked by sha256). Its layers are an ``nn.Sequential``:

    index 0–15   Normalize, two conv stages, Flatten
    index 16     Linear(1568 → 128)
    index 17     ReLU            ← the features: 128-d penultimate activations
    index 18–19  Dropout, Linear(128 → 10)  ← the logits; softmax gives p(y|x) for IS

So "MNIST features" are the outputs of layer 17; on MNIST a few of the 128 ReLUs never fire,
so the covariance is singular, which the Fréchet distance handles (eigenvalue route).

``"inception"``: torchvision's Inception-v3 (ImageNet weights, 2048-d pool features and its
1000-way softmax), used only when the weights are already in the torch hub cache; nothing is
downloaded. Note: FID papers use the TensorFlow Inception weights (as pytorch-fid does), so
numbers from torchvision's weights are close to but not equal to published FIDs.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..attacks._common import check_images, eval_mode
from ..models import load_pretrained
from ..train import EVAL_BATCH

FEATURE_NETWORKS = ("mnist", "inception")
MNIST_FEATURE_LAYER = 17  # the ReLU after Linear(1568 → 128) in MnistCNN


class Features(NamedTuple):
    features: torch.Tensor  # (N, d) float32
    probs: torch.Tensor     # (N, K) class probabilities p(y|x)


class FeatureNetwork(nn.Module):
    """A classifier split in two: ``body`` gives the features, ``head`` maps them to logits."""

    def __init__(self, body: nn.Module, head: nn.Module, image_shape: tuple[int, ...] | None):
        super().__init__()
        self.body, self.head = body, head
        self.image_shape = image_shape  # the (C, H, W) the network needs, None if any size

    def forward(self, x: torch.Tensor) -> Features:
        f = self.body(x)
        return Features(f, self.head(f).softmax(dim=1))


def mnist_feature_network() -> FeatureNetwork:
    """The shipped "mnist-cnn" split after layer 17 (128-d features, 10-way softmax)."""
    layers = list(load_pretrained("mnist-cnn").children())
    body = nn.Sequential(*layers[:MNIST_FEATURE_LAYER + 1])
    head = nn.Sequential(*layers[MNIST_FEATURE_LAYER + 1:])
    return FeatureNetwork(body, head, image_shape=(1, 28, 28)).eval()


class _InceptionBody(nn.Module):
    """Images in [0, 1], any size, 1 or 3 channels → Inception-v3 pool features (N, 2048)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x):
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net((x - self.mean) / self.std)


def inception_weights_path() -> Path:
    """Where torchvision keeps the Inception-v3 ImageNet weights in the torch hub cache."""
    from torchvision.models import Inception_V3_Weights
    url = Inception_V3_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def inception_feature_network() -> FeatureNetwork:
    """torchvision's Inception-v3 from the local cache (2048-d features, 1000-way softmax)."""
    from torchvision.models import inception_v3
    path = inception_weights_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"features='inception' needs torchvision's Inception-v3 weights in the torch cache "
            f"({path}); they are not there and coursekit does not download. Online, run "
            "`python -c \"import torchvision; torchvision.models.inception_v3(weights='DEFAULT')\"` "
            "once, or use features='mnist' (offline)."
        )
    # transform_input=True: these weights were ported from TensorFlow and expect torchvision to
    # map ImageNet-normalised inputs back to [-1, 1], as inception_v3(weights=...) would do.
    with torch.random.fork_rng(devices=[]):   # initial weights, replaced below: the caller's RNG untouched
        net = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    head, net.fc = net.fc, nn.Identity()
    return FeatureNetwork(_InceptionBody(net), head, image_shape=None).eval()


@lru_cache(maxsize=4)
def _cached_network(name: str, device: str) -> FeatureNetwork:
    net = mnist_feature_network() if name == "mnist" else inception_feature_network()
    return net.to(device).requires_grad_(False)


def feature_network(name: str = "mnist", device=None) -> FeatureNetwork:
    """The feature network ``name`` ("mnist" or "inception") on ``device``: a copy of the one the
    metrics use (cached per device), so that changing it changes no later FID or IS."""
    if name not in FEATURE_NETWORKS:
        raise ValueError(f"features must be one of {FEATURE_NETWORKS}, got {name!r}")
    return copy.deepcopy(_cached_network(name, str(torch.device(device or "cpu"))))


@torch.no_grad()
def extract_features(images: torch.Tensor, features: str = "mnist", batch_size: int = EVAL_BATCH,
                     progress: bool = True) -> Features:
    """Features and class probabilities of ``images`` (N, C, H, W) in [0, 1].

    The network runs on the images' device, ``batch_size`` images at a time, with a tqdm
    progress bar; the results come back on that device as float32.
    """
    check_images(images, "images")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if features not in FEATURE_NETWORKS:
        raise ValueError(f"features must be one of {FEATURE_NETWORKS}, got {features!r}")
    net = _cached_network(features, str(images.device))
    if net.image_shape is not None and tuple(images.shape[1:]) != net.image_shape:
        raise ValueError(f"features={features!r} needs images of shape (N, "
                         f"{', '.join(map(str, net.image_shape))}), got {tuple(images.shape)}")
    if features == "inception" and images.shape[1] not in (1, 3):
        raise ValueError(f"features='inception' needs 1 or 3 channels, got {images.shape[1]}")
    with eval_mode(net):
        outs = [net(batch) for batch in tqdm(images.split(batch_size), desc=f"{features} features",
                                             disable=not progress, leave=False)]
    return Features(torch.cat([o.features for o in outs]), torch.cat([o.probs for o in outs]))
