"""Judging a CycleGAN translation: translate a set of images, and semantic consistency, the
share of translations a classifier of the target domain labels as their source's label.

Neighbours in ``coursekit/gan/cyclegan/``: the networks are in ``nets.py``, their training in
``training.py``.
"""
from __future__ import annotations

import torch
from torch import nn

from ...train import EVAL_BATCH, predict


def translate(G: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """G(x) in eval mode, ``batch_size`` images at a time, on G's device; G's mode is restored
    (:func:`coursekit.train.predict`, which does the same for any network)."""
    return predict(G, x, batch_size)


def translation_accuracy(G: nn.Module, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         batch_size: int = EVAL_BATCH) -> float:
    """Semantic consistency: the share of translations G(x) that a classifier trained on the
    target domain labels as ``y``, the label of x. The small-scale analogue of the FCN score
    of Zhu et al. 2017 (§5.1.1, after Isola et al. 2017), where a segmentation network reads
    the translated photos."""
    from ...train import accuracy

    return accuracy(classifier, translate(G, x, batch_size), y, batch_size)
