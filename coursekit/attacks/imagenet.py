"""The lecture's own example at full size: make an ImageNet classifier see an iguana in a cat.

The cat is scikit-image's ``chelsea()`` photo (offline). The classifier is a torchvision
ImageNet model whose weights are used only if they are already in the torch hub cache
(``~/.cache/torch/hub/checkpoints``): nothing here downloads. Without them,
:func:`imagenet_classifier` raises :class:`WeightsNotCached` with the command that fetches
them, and a notebook skips the demo with that message. The same plumbing runs with untrained
weights (``weights=None``), which is how the tests check it offline.

Like the MNIST models, the returned model takes images in [0, 1] and normalises them in its
first layer, so every attack in :mod:`coursekit.attacks` applies to it unchanged.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IGUANA = 39   # "common iguana" in torchvision's ImageNet category list


class WeightsNotCached(FileNotFoundError):
    """The pretrained weights are not in the torch hub cache (and will not be downloaded)."""


class ImageNetNormalize(nn.Module):
    """x ↦ (x − mean) / std per channel, as a layer: the model's input space is [0, 1]."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _weights_enum(arch: str):
    import torchvision.models as tvm
    try:
        return tvm.get_model_weights(arch).DEFAULT
    except (ValueError, KeyError) as err:
        raise ValueError(f"arch must be a torchvision classification model name such as "
                         f"'resnet18', got {arch!r}") from err


def cached_weights_path(arch: str = "resnet18") -> Path:
    """Where torchvision keeps ``arch``'s default ImageNet weights once downloaded."""
    weights = _weights_enum(arch)
    return Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]


def categories(arch: str = "resnet18") -> list[str]:
    """The 1,000 ImageNet class names, from torchvision's weight metadata (offline)."""
    return list(_weights_enum(arch).meta["categories"])


def imagenet_classifier(arch: str = "resnet18", weights: str | None = "cached") -> nn.Module:
    """``arch`` with ImageNet normalisation in front, in eval mode.

    ``weights="cached"``: the default ImageNet weights from the torch hub cache, or
    :class:`WeightsNotCached` if they are not there. ``weights=None``: untrained (for tests).
    """
    import torchvision.models as tvm
    if weights not in ("cached", None):
        raise ValueError(f"weights must be 'cached' or None, got {weights!r}")
    net = tvm.get_model(arch, weights=None)
    if weights == "cached":
        path = cached_weights_path(arch)
        if not path.is_file():
            raise WeightsNotCached(
                f"no ImageNet weights for {arch} in the torch cache ({path}); with internet "
                f"access, run `python -c \"import torchvision; torchvision.models.get_model("
                f"'{arch}', weights='DEFAULT')\"` once to fetch them")
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return nn.Sequential(ImageNetNormalize(), net).eval()


def cat_image(size: int = 224) -> torch.Tensor:
    """scikit-image's cat photo (``chelsea``) as a (1, 3, size, size) batch in [0, 1].

    Resized so the short side is ``size``, then centre-cropped.
    """
    from skimage import data
    img = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255   # (1, 3, 300, 451)
    h, w = img.shape[-2:]
    scale = size / min(h, w)
    img = F.interpolate(img, size=(round(h * scale), round(w * scale)), mode="bilinear",
                        antialias=True, align_corners=False)
    top, left = (img.shape[-2] - size) // 2, (img.shape[-1] - size) // 2
    return img[..., top:top + size, left:left + size].clamp(0, 1)
