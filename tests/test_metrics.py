"""coursekit.metrics on features: agreement with the reference libraries on identical inputs,
and clear errors on bad input.

Witnesses (test dependencies only): pytorch-fid's ``calculate_frechet_distance`` (scipy
sqrtm route), torchmetrics' ``FrechetInceptionDistance`` (eigenvalue route, run with our own
feature module), torch-fidelity's ``isc_features_to_metric``, ``kid_features_to_metric`` and
``prc_features_to_metric``. Tolerance: relative 1e-6 (the issue's criterion) unless stated.
"""
import math

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from coursekit import metrics as M

REL = 1e-6


def gaussian_features(n, d, shift=0.0, scale=1.0, seed=0):
    """n samples of one fixed correlated Gaussian in d dims, then scaled and shifted."""
    mix = torch.randn(d, d, generator=torch.Generator().manual_seed(1000 + d), dtype=torch.float64)
    mix /= math.sqrt(d)
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) @ mix) * scale + shift


def pytorch_fid_reference(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().numpy(), b.double().numpy()
    return float(calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False),
                                            b.mean(0), np.cov(b, rowvar=False)))


# ---------------------------------------------------------------- Fréchet distance
@pytest.mark.parametrize("shift,scale", [(0.0, 1.0), (0.3, 1.5), (2.0, 0.5)])
def test_frechet_distance_matches_pytorch_fid(shift, scale):
    a = gaussian_features(600, 32, seed=1)
    b = gaussian_features(500, 32, shift, scale, seed=2)
    assert M.frechet_distance(a, b) == pytest.approx(pytorch_fid_reference(a, b), rel=REL)


def test_frechet_distance_from_statistics_equals_from_features():
    a, b = gaussian_features(400, 16, seed=3), gaussian_features(300, 16, 0.5, seed=4)
    stats_a = M.gaussian_statistics(a)
    stats_b = (b.mean(0).numpy(), np.cov(b.numpy(), rowvar=False))  # numpy pair works too
    assert M.frechet_distance(stats_a, stats_b) == pytest.approx(M.frechet_distance(a, b), rel=1e-12)


def test_frechet_distance_of_a_set_with_itself_is_zero_and_symmetric():
    a, b = gaussian_features(300, 8, seed=5), gaussian_features(300, 8, 1.0, seed=6)
    assert abs(M.frechet_distance(a, a)) < 1e-9
    assert M.frechet_distance(a, b) == pytest.approx(M.frechet_distance(b, a), rel=1e-9)


def test_frechet_distance_of_known_gaussians():
    # N(0, I) vs N(m, 4I) in d dims: ‖m‖² + d(1 + 4 − 2·2) = ‖m‖² + d (Dowson & Landau 1982).
    d = 5
    mu = torch.arange(d, dtype=torch.float64)
    got = M.frechet_distance((torch.zeros(d), torch.eye(d)), (mu, 4 * torch.eye(d)))
    assert got == pytest.approx(float(mu.square().sum()) + d, rel=1e-12)


def test_frechet_distance_matches_torchmetrics_with_the_same_feature_module(test_set):
    from torchmetrics.image.fid import FrechetInceptionDistance
    x = test_set[0][:600]
    body = M.feature_network("mnist").body  # the 128-d MNIST features (layer 17)
    metric = FrechetInceptionDistance(feature=body, normalize=True, input_img_size=(1, 28, 28))
    real, fake = x[:300], x[300:].flip(-1)  # mirrored digits: a clearly different set
    metric.update(real, real=True)
    metric.update(fake, real=False)
    reference = metric.compute().item()  # torchmetrics returns float32
    with torch.no_grad():
        ours = M.frechet_distance(body(real), body(fake))
    assert ours == pytest.approx(reference, rel=REL)


def test_frechet_distance_leaves_inputs_alone():
    a, b = gaussian_features(200, 4, seed=7).float(), gaussian_features(200, 4, 1.0, seed=8).float()
    a0, b0 = a.clone(), b.clone()
    M.frechet_distance(a, b)
    assert torch.equal(a, a0) and torch.equal(b, b0) and a.dtype == torch.float32


# ---------------------------------------------------------------- Inception Score
@pytest.mark.parametrize("seed", [None, 2020])
def test_inception_score_matches_torch_fidelity(seed):
    logits = 3 * torch.randn(1000, 10, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    ours = M.inception_score(logits.softmax(1), splits=10, seed=seed)
    ref = isc_features_to_metric(logits, splits=10, shuffle=seed is not None, rng_seed=seed or 0)
    assert ours[0] == pytest.approx(ref["inception_score_mean"], rel=REL)
    assert ours[1] == pytest.approx(ref["inception_score_std"], rel=REL)


def test_inception_score_extremes():
    # Confident and uniform over K classes: IS = K. Always the same class: IS = 1 (Salimans et al.).
    k = 10
    one_hot = torch.eye(k).repeat(50, 1)
    assert M.inception_score(one_hot, splits=5)[0] == pytest.approx(k, rel=1e-9)
    assert M.inception_score(torch.eye(k)[[3] * 500], splits=5)[0] == pytest.approx(1.0, rel=1e-9)


# ---------------------------------------------------------------- KID
def test_kid_matches_torch_fidelity_on_the_same_subsets():
    a, b = gaussian_features(700, 24, seed=10), gaussian_features(800, 24, 0.2, 1.2, seed=11)
    ours = M.kid(a, b, subsets=10, subset_size=300, seed=123)
    ref = kid_features_to_metric(a, b, kid_subsets=10, kid_subset_size=300, rng_seed=123, verbose=False)
    assert ours[0] == pytest.approx(ref["kernel_inception_distance_mean"], rel=REL)
    assert ours[1] == pytest.approx(ref["kernel_inception_distance_std"], rel=REL)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    a, a2 = gaussian_features(600, 16, seed=12), gaussian_features(600, 16, seed=13)
    b = gaussian_features(600, 16, 0.5, seed=14)
    same, _ = M.kid(a, a2, subsets=10, subset_size=300)
    diff, _ = M.kid(a, b, subsets=10, subset_size=300)
    assert abs(same) < 0.01 < diff


# ---------------------------------------------------------------- precision / recall
def test_precision_recall_equal_torch_fidelity():
    real = gaussian_features(500, 16, seed=15)
    fake = gaussian_features(400, 16, 0.4, 0.7, seed=16)
    ours = M.precision_recall(real, fake, k=3)
    # torch-fidelity's convention: features_1 is the generated set, features_2 the real one.
    ref = prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=10000,
                                 save_cpu_ram=False, verbose=False)
    # torch-fidelity returns float32 shares; compare the counts of samples inside the balls.
    assert round(ours.precision * len(fake)) == round(ref["precision"] * len(fake))
    assert round(ours.recall * len(real)) == round(ref["recall"] * len(real))
    assert 0 < ours.recall < ours.precision < 1  # a shrunken fake set: precise but not complete


# ---------------------------------------------------------------- FID∞
def test_fid_infinity_recovers_a_1_over_n_law():
    # Two samples from one Gaussian: the true FID is 0 and FID_N is mostly bias ∝ 1/N.
    real = gaussian_features(4000, 8, seed=17)
    fake = gaussian_features(2000, 8, seed=18)
    result = M.fid_infinity(real, fake, num_points=8)
    assert result.fids[0] > result.fids[-1]          # fewer samples, larger FID
    assert result.slope > 0
    assert abs(result.value) < result.fids[-1]        # extrapolation removes most of the bias
    assert len(result.sizes) == 8 and result.sizes[-1] == 2000


# ---------------------------------------------------------------- human error rate
def test_error_rate_ci_brackets_the_rate():
    truth = [True, False] * 50
    answers = [True] * 100  # says "real" to everything: half wrong
    rate, low, high = M.error_rate_ci(truth, answers, n_boot=2000, seed=0)
    assert rate == 0.5 and low < 0.5 < high and high - low < 0.25


# ---------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors():
    a = gaussian_features(100, 8, seed=19)
    with pytest.raises(ValueError, match="same feature size"):
        M.frechet_distance(a, gaussian_features(100, 9))
    with pytest.raises(ValueError, match="more samples than feature dimensions.*N=8"):
        M.frechet_distance(a[:8], a)
    nan = a.clone()
    nan[3, 2] = float("nan")
    for fn in (M.frechet_distance, M.precision_recall):
        with pytest.raises(ValueError, match="finite"):
            fn(a, nan)
    with pytest.raises(ValueError, match="finite"):
        M.kid(a, nan, subsets=2, subset_size=50)
    with pytest.raises(ValueError, match="matrix .N, d."):
        M.frechet_distance(a[0], a)
    with pytest.raises(ValueError, match="pass softmax"):
        M.inception_score(torch.randn(100, 10))
    with pytest.raises(ValueError, match="splits"):
        M.inception_score(torch.full((100, 10), 0.1), splits=0)
    with pytest.raises(ValueError, match="subset_size .1000. must not exceed"):
        M.kid(a, a)
    with pytest.raises(ValueError, match="k .100. must be smaller"):
        M.precision_recall(a, a, k=100)
    with pytest.raises(ValueError, match="mean must have shape"):
        M.frechet_distance((torch.zeros(3), torch.eye(4)), a)
    with pytest.raises(ValueError, match="sizes must hold"):
        M.fid_infinity(a, a, sizes=[5, 50])
    with pytest.raises(ValueError, match="is_real and said_real"):
        M.error_rate_ci([True, False], [True])
