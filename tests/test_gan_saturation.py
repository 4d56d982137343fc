"""Notebook 05's machinery: the two generator costs, the saturating run, and JS against W1."""
import math
import statistics

import pytest
import torch

from coursekit.data import mnist
from coursekit.gan.saturation import generator_costs, saturation_run
from coursekit.gan.transport import shift_curves, wasserstein1_samples


def test_generator_costs_match_their_closed_forms():
    # Goodfellow et al. 2014, §3: log(1 − D) and −log D, with d/dD = −1/(1 − D) and −1/D,
    # and with respect to the logit: −σ(d) = −D and σ(d) − 1 = D − 1
    p = torch.tensor([0.01, 0.2, 0.5, 0.9], dtype=torch.float64)
    c = generator_costs(p)
    assert torch.allclose(c["saturating"], torch.log1p(-p), atol=1e-12)
    assert torch.allclose(c["non_saturating"], -torch.log(p), atol=1e-12)
    assert torch.allclose(c["d_saturating_dp"], -1 / (1 - p), atol=1e-9)
    assert torch.allclose(c["d_non_saturating_dp"], -1 / p, atol=1e-9)
    assert torch.allclose(c["d_saturating_dlogit"], -p, atol=1e-12)
    assert torch.allclose(c["d_non_saturating_dlogit"], p - 1, atol=1e-12)
    # the min–max flip: −log D = −[log(1 − D')] at D' = 1 − D, the saturating cost mirrored
    assert torch.allclose(c["non_saturating"], -generator_costs(1 - p)["saturating"], atol=1e-12)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        generator_costs(torch.tensor([0.0, 0.5]))


def test_saturating_run_pushes_and_moves_g_less():
    # Same seed, same networks and data; the two runs share the D loss and differ only in J(G).
    # Per sample, the logit gradients are in the ratio (1 − D)/D, so while D rejects the fakes
    # (D(G(z)) = p̄ ≪ ½) the non-saturating ‖∇J(G)‖ should exceed the saturating one by roughly
    # that factor; we ask for half of it (measured here: 11.9 against (1 − p̄)/p̄ = 7.8). Adam
    # rescales steps, so the updates differ less, yet they differ: measured 3.2, we ask for 2.
    x = mnist("train").tensors()[0][:2000]
    runs = {loss: saturation_run(loss, x, steps=60, seed=0, ngf=8, latent_dim=32, batch_size=32)[1]
            for loss in ("minimax", "non-saturating")}
    window = slice(20, None)
    grad = {k: statistics.fmean(h["g_grad_norm"][window]) for k, h in runs.items()}
    update = {k: statistics.fmean(h["g_update_norm"][window]) for k, h in runs.items()}
    p_bar = statistics.fmean(runs["minimax"]["d_fake_prob"][window])
    assert p_bar < 0.3
    assert grad["non-saturating"] / grad["minimax"] > 0.5 * (1 - p_bar) / p_bar, (grad, p_bar)
    assert update["non-saturating"] / update["minimax"] > 2, update
    assert len(runs["minimax"]["g_update_norm"]) == 60
    with pytest.raises(ValueError, match="loss must be"):
        saturation_run("hinge", x, steps=1)


def test_js_saturates_where_w1_keeps_its_slope():
    # Arjovsky et al. 2017, Example 1, for two Gaussians of σ = 0.1: W1 = |θ| for a shift θ;
    # JS reaches log 2 (nats) once they stop overlapping, and then no longer changes
    s = shift_curves(torch.tensor([0.0, 0.05, 0.5, 1.0, 2.0]), std=0.1)
    assert torch.allclose(s["w1"], s["theta"], atol=1e-6)
    assert s["js"][0] == pytest.approx(0.0, abs=1e-12)
    assert s["js"][1] < 0.1
    assert s["js"][3] == pytest.approx(math.log(2), abs=1e-6)
    assert abs(s["js"][4] - s["js"][3]) < 1e-6  # flat: no gradient to follow
    assert s["w1"][4] - s["w1"][3] == pytest.approx(1.0, abs=1e-6)


def test_w1_from_samples_against_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, generator=g, dtype=torch.float64), 2 * torch.rand(500, generator=g, dtype=torch.float64)
    assert wasserstein1_samples(a, b) == pytest.approx(scipy_stats.wasserstein_distance(a.numpy(), b.numpy()), abs=1e-12)
    assert wasserstein1_samples(a, a + 0.3) == pytest.approx(0.3, abs=1e-12)
    with pytest.raises(ValueError, match="equal size"):
        wasserstein1_samples(a, b[:10])
