"""Scoring a human real/fake test: error rate with a bootstrap confidence interval.

Zhou et al. 2019, "HYPE: A Benchmark for Human eYe Perceptual Evaluation of Generative
Models", sec. 3.2 (HYPE∞): raters label a random mix of real and generated images with
unlimited time; the score is the rater error rate (fakes called real plus reals called fake,
over all answers), 50% meaning indistinguishable, with a 95% bootstrap confidence interval.
"""
from __future__ import annotations

import numpy as np

from ..validate import as_bools


def error_rate_ci(is_real, said_real, n_boot: int = 1000, level: float = 0.95,
                  seed: int = 0) -> tuple[float, float, float]:
    """(error rate, low, high): share of wrong answers and its percentile-bootstrap CI.

    ``is_real[i]`` is the truth of image i, ``said_real[i]`` the rater's answer.
    """
    truth, answer = as_bools("is_real", is_real), as_bools("said_real", said_real)
    if truth.shape != answer.shape or truth.ndim != 1 or len(truth) == 0:
        raise ValueError(f"is_real and said_real must be equal-length 1-d sequences, got shapes "
                         f"{truth.shape} and {answer.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be an int >= 1, got {n_boot!r}")
    wrong = (truth != answer).astype(np.float64)
    rng = np.random.default_rng(seed)
    boot = wrong[rng.integers(0, len(wrong), size=(n_boot, len(wrong)))].mean(1)
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float(wrong.mean()), float(low), float(high)
