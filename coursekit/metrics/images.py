"""The metrics on images: extract features once (batched, any device), then compute.

``fid(images_a, images_b)`` is ``frechet_distance`` of their features, and so on; with
``features="mnist"`` (default) the numbers are MNIST-feature metrics, comparable only with
each other, not with published Inception FIDs.
"""
from __future__ import annotations

from ..train import EVAL_BATCH
from ..validate import check_images, check_nonempty
from .features import Features, extract_features
from .frechet import frechet_distance
from .inception_score import inception_score
from .kid import kid
from .precision_recall import PrecisionRecall, precision_recall


def _features(images, name: str, features: str, batch_size: int, progress: bool) -> Features:
    """:func:`extract_features` of a set that a metric compares: checked under the caller's
    argument ``name``, and refused when empty (a distribution of no images has no statistics)."""
    check_images(images, name)
    check_nonempty(images, name)
    return extract_features(images, features, batch_size, progress)


def fid(images_a, images_b, features: str = "mnist", batch_size: int = EVAL_BATCH,
        progress: bool = True) -> float:
    """Fréchet distance between the ``features`` of two image sets (N, C, H, W) in [0, 1]."""
    fa = _features(images_a, "images_a", features, batch_size, progress).features
    fb = _features(images_b, "images_b", features, batch_size, progress).features
    return frechet_distance(fa, fb)


def image_inception_score(images, features: str = "mnist", splits: int = 10,
                          batch_size: int = EVAL_BATCH, progress: bool = True) -> tuple[float, float]:
    """(mean, std) Inception Score of ``images`` using the class probabilities of ``features``."""
    return inception_score(_features(images, "images", features, batch_size, progress).probs, splits)


def image_kid(images_a, images_b, features: str = "mnist", subsets: int = 100,
              subset_size: int = 1000, seed: int = 0, batch_size: int = EVAL_BATCH,
              progress: bool = True) -> tuple[float, float]:
    """(mean, std) KID between the ``features`` of two image sets."""
    fa = _features(images_a, "images_a", features, batch_size, progress).features
    fb = _features(images_b, "images_b", features, batch_size, progress).features
    return kid(fa, fb, subsets, subset_size, seed)


def image_precision_recall(images_real, images_fake, features: str = "mnist", k: int = 3,
                           batch_size: int = EVAL_BATCH, progress: bool = True) -> PrecisionRecall:
    """Improved precision and recall of ``images_fake`` against ``images_real``."""
    fr = _features(images_real, "images_real", features, batch_size, progress).features
    ff = _features(images_fake, "images_fake", features, batch_size, progress).features
    return precision_recall(fr, ff, k)


def evaluate_features(real: Features, fake: Features, kid_subsets: int = 100,
                      kid_subset_size: int = 1000, k: int = 3, seed: int = 0) -> dict:
    """Every metric from already extracted features: one row of a results table.

    Returns {"IS", "FID", "KID", "precision", "recall"}; IS uses the fake set's class
    probabilities (10 splits); KID uses subsets of ``min(kid_subset_size, N_real, N_fake)``.
    """
    subset = min(kid_subset_size, len(real.features), len(fake.features))
    pr = precision_recall(real.features, fake.features, k)
    return {
        "IS": inception_score(fake.probs, splits=min(10, len(fake.probs)))[0],
        "FID": frechet_distance(real.features, fake.features),
        "KID": kid(real.features, fake.features, kid_subsets, subset, seed)[0],
        "precision": pr.precision,
        "recall": pr.recall,
    }


def evaluate(images_real, images_fake, features: str = "mnist", kid_subsets: int = 100,
             kid_subset_size: int = 1000, k: int = 3, seed: int = 0, batch_size: int = EVAL_BATCH,
             progress: bool = True) -> dict:
    """Every metric at once on two image sets (features extracted once per set)."""
    real = _features(images_real, "images_real", features, batch_size, progress)
    fake = _features(images_fake, "images_fake", features, batch_size, progress)
    return evaluate_features(real, fake, kid_subsets, kid_subset_size, k, seed)
