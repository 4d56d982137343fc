"""The Inception Score: confident and varied class predictions score high.

Salimans et al. 2016, "Improved Techniques for Training GANs", sec. 4:

    IS = exp( E_x KL( p(y|x) ‖ p(y) ) ),   p(y) = E_x p(y|x)

computed on ``splits`` equal chunks of the samples; the score is the mean over chunks and
the spread their (population) standard deviation. Its maximum is the number of classes.
"""
from __future__ import annotations

import numpy as np
import torch

from ._checks import check_features, check_positive_int


def inception_score(probs, splits: int = 10, seed: int | None = None) -> tuple[float, float]:
    """(mean, std) of the Inception Score of class probabilities ``probs`` (N, K).

    Rows must be probability vectors (e.g. ``softmax(logits)``). Chunk i holds rows
    ``i·N//splits`` to ``(i+1)·N//splits``; with ``seed`` set, the rows are first shuffled by
    ``numpy.random.RandomState(seed).permutation(N)`` (the convention of torch-fidelity,
    whose default seed is 2020), otherwise they are taken in order.
    """
    p = check_features(probs, "probs", min_samples=1)
    splits = check_positive_int(splits, "splits")
    n = len(p)
    if n < splits:
        raise ValueError(f"probs: need at least one sample per split ({splits}), got {n}")
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones_like(p[:, 0]), atol=1e-4):
        raise ValueError("probs must hold probability vectors (rows >= 0 summing to 1); "
                         "pass softmax(logits), not logits")
    if seed is not None:
        p = p[torch.as_tensor(np.random.RandomState(seed).permutation(n), device=p.device)]
    scores = []
    for i in range(splits):
        p_yx = p[i * n // splits:(i + 1) * n // splits]          # (n_i, K) p(y|x)
        p_y = p_yx.mean(0, keepdim=True)                          # (1, K)   p(y)
        kl = torch.special.xlogy(p_yx, p_yx) - torch.special.xlogy(p_yx, p_y)  # 0·log 0 = 0
        scores.append(kl.sum(1).mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))
