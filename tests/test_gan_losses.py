"""The loss zoo against its formulas on hand-computed values, and gradients by gradcheck."""
import math

import pytest
import torch
from torch import nn

from coursekit.gan import losses as L

# D's raw outputs: logits 0 and ln 3 are probabilities σ = 1/2 and 3/4.
LN3 = math.log(3.0)
REAL = torch.tensor([0.0, LN3], dtype=torch.float64)
FAKE = torch.tensor([-LN3, 0.0], dtype=torch.float64)  # σ = 1/4 and 1/2


def test_minimax_d_loss_by_hand():
    # −mean(log σ(real)) − mean(log(1 − σ(fake))) = −½(log ½ + log ¾) − ½(log ¾ + log ½)
    expected = -(math.log(0.5) + math.log(0.75))
    assert L.minimax_d_loss(REAL, FAKE).item() == pytest.approx(expected, abs=1e-12)


def test_one_sided_label_smoothing_by_hand():
    # real target 0.9: −mean(0.9 log σ(r) + 0.1 log(1 − σ(r))); the fake term is unchanged
    real_term = -0.5 * (0.9 * math.log(0.5) + 0.1 * math.log(0.5)
                        + 0.9 * math.log(0.75) + 0.1 * math.log(0.25))
    fake_term = -0.5 * (math.log(0.75) + math.log(0.5))
    got = L.minimax_d_loss(REAL, FAKE, real_label=0.9).item()
    assert got == pytest.approx(real_term + fake_term, abs=1e-12)
    with pytest.raises(ValueError, match="real_label"):
        L.minimax_d_loss(REAL, FAKE, real_label=1.5)


def test_generator_costs_by_hand():
    # saturating: mean(log(1 − σ(fake))) = ½(log ¾ + log ½); non-saturating: −½(log ¼ + log ½)
    assert L.saturating_g_loss(FAKE).item() == pytest.approx(0.5 * (math.log(0.75) + math.log(0.5)))
    assert L.non_saturating_g_loss(FAKE).item() == pytest.approx(-0.5 * (math.log(0.25) + math.log(0.5)))


def test_lsgan_wgan_hinge_by_hand():
    r = torch.tensor([2.0, -1.0], dtype=torch.float64)
    f = torch.tensor([0.5, -3.0], dtype=torch.float64)
    # LSGAN: ½ mean((r − 1)²) + ½ mean(f²) = ½·(1 + 4)/2 + ½·(0.25 + 9)/2
    assert L.lsgan_d_loss(r, f).item() == pytest.approx(0.5 * 2.5 + 0.5 * 4.625)
    assert L.lsgan_g_loss(f).item() == pytest.approx(0.5 * (0.25 + 16) / 2)
    # WGAN: mean(f) − mean(r) = −1.25 − 0.5
    assert L.wgan_d_loss(r, f).item() == pytest.approx(-1.75)
    assert L.wgan_g_loss(f).item() == pytest.approx(1.25)
    # hinge: mean(relu(1 − r)) + mean(relu(1 + f)) = (0 + 2)/2 + (1.5 + 0)/2
    assert L.hinge_d_loss(r, f).item() == pytest.approx(1.75)
    assert L.hinge_g_loss(f).item() == pytest.approx(1.25)


def test_no_log_of_zero_at_extreme_logits():
    big = torch.tensor([1e4, -1e4], dtype=torch.float32)
    for value in (L.minimax_d_loss(big, -big), L.minimax_d_loss(-big, big),
                  L.saturating_g_loss(big), L.non_saturating_g_loss(-big)):
        assert torch.isfinite(value)


@pytest.mark.parametrize("fn", [L.minimax_d_loss, L.lsgan_d_loss, L.wgan_d_loss, L.hinge_d_loss])
def test_d_losses_gradcheck(fn):
    r = torch.randn(5, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(0))
    f = torch.randn(5, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(fn, (r, f))


@pytest.mark.parametrize("fn", [L.saturating_g_loss, L.non_saturating_g_loss, L.lsgan_g_loss,
                                L.wgan_g_loss, L.hinge_g_loss])
def test_g_losses_gradcheck(fn):
    f = torch.randn(5, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(2))
    assert torch.autograd.gradcheck(fn, (f,))


def test_saturation_claim():
    # at D(G(z)) = 0.01 the saturating cost's gradient w.r.t. the logit is −σ = −0.01, the
    # non-saturating one's is σ − 1 = −0.99: about 99 times larger (Goodfellow et al. 2014, §3)
    logit = torch.tensor([math.log(0.01 / 0.99)], dtype=torch.float64, requires_grad=True)
    (g_sat,) = torch.autograd.grad(L.saturating_g_loss(logit), logit)
    (g_ns,) = torch.autograd.grad(L.non_saturating_g_loss(logit), logit)
    assert g_sat.item() == pytest.approx(-0.01)
    assert g_ns.item() == pytest.approx(-0.99)
    assert abs(g_ns.item()) > 50 * abs(g_sat.item())


class Linear2(nn.Module):
    """D(x) = w·x: its input gradient is w everywhere, so the penalty is (‖w‖ − 1)²."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x):
        return x @ self.w


@pytest.mark.parametrize("penalty", [L.gradient_penalty, L.dragan_penalty])
def test_penalty_on_a_critic_with_known_gradient(penalty):
    x_real = torch.rand(16, 2, dtype=torch.float64)
    x_fake = torch.rand(16, 2, dtype=torch.float64)
    D = Linear2([3.0, 4.0])  # ‖w‖ = 5, so the penalty is (5 − 1)² = 16
    value = penalty(D, x_real, x_fake, generator=torch.Generator().manual_seed(0))
    assert value.item() == pytest.approx(16.0)
    # and it is differentiable through D: d/dw (‖w‖ − 1)² = 2(‖w‖ − 1) w/‖w‖ = 1.6 w
    (grad,) = torch.autograd.grad(value, D.w)
    assert torch.allclose(grad, 1.6 * D.w.detach())
    assert penalty(Linear2([0.6, 0.8]), x_real, x_fake).item() == pytest.approx(0.0, abs=1e-12)


def test_gradient_penalty_of_a_nonlinear_critic_matches_autograd():
    # D(x) = ½‖x‖²: ∇D(x̂) = x̂; check against the interpolates drawn with the same seed
    D = lambda x: 0.5 * (x ** 2).sum(1)  # noqa: E731
    x_real, x_fake = torch.rand(8, 3, dtype=torch.float64), torch.rand(8, 3, dtype=torch.float64)
    eps = torch.rand((8, 1), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x_hat = eps * x_real + (1 - eps) * x_fake
    expected = ((x_hat.norm(dim=1) - 1) ** 2).mean()
    got = L.gradient_penalty(D, x_real, x_fake, generator=torch.Generator().manual_seed(5))
    assert got.item() == pytest.approx(expected.item(), abs=1e-12)


def test_clip_weights():
    D = nn.Linear(4, 1)
    with torch.no_grad():
        D.weight.mul_(100)
    L.clip_weights(D, 0.01)
    assert all(p.abs().max() <= 0.01 for p in D.parameters())


def test_zoo_presets_carry_the_published_hyperparameters():
    gp = L.get_loss("wgan-gp")
    assert gp.penalty_weight == 10.0
    assert gp.preset == {"optimizer": "adam", "lr_d": 1e-4, "lr_g": 1e-4, "betas": (0.0, 0.9), "k": 5}
    w = L.get_loss("wgan")
    assert w.clip == 0.01 and w.preset["optimizer"] == "rmsprop" and w.preset["lr_d"] == 5e-5
    assert set(L.LOSSES) == {"minimax", "non-saturating", "lsgan", "wgan", "wgan-gp", "hinge", "dragan"}
    with pytest.raises(ValueError, match="loss must be one of"):
        L.get_loss("vanilla")


def test_label_smoothed_d_loss_gradcheck():
    r = torch.randn(5, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(3))
    f = torch.randn(5, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(4))
    assert torch.autograd.gradcheck(lambda a, b: L.minimax_d_loss(a, b, real_label=0.9), (r, f))


class TanhCritic(nn.Module):
    """D(x) = tanh(x·w): a nonlinear critic, so the penalty's gradient needs the second derivative."""

    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x):
        return torch.tanh(x @ self.w)


@pytest.mark.parametrize("penalty", [L.gradient_penalty, L.dragan_penalty])
def test_penalties_gradcheck_through_the_critic(penalty):
    # the penalty is minimised through D's weights (double backpropagation): check its gradient
    # with respect to w against finite differences, in float64, with fixed interpolation draws
    g = torch.Generator().manual_seed(0)
    x_real, x_fake = torch.randn(6, 3, dtype=torch.float64, generator=g), torch.randn(6, 3, dtype=torch.float64, generator=g)
    w = torch.randn(3, dtype=torch.float64, generator=g).requires_grad_(True)

    def value(w):
        return penalty(TanhCritic(w), x_real, x_fake, generator=torch.Generator().manual_seed(1))

    assert torch.autograd.gradcheck(value, (w,))


def test_dragan_perturbs_around_the_data_only():
    # Kodali et al. 2017: x̂ = x + α·δ with δ ~ c·std(x)·U[0, 1], α ~ U[0, 1], so each coordinate
    # of x̂ − x lies in [0, c·std(x)], whatever the fakes are
    seen = []

    class Recorder(nn.Module):
        def forward(self, x):
            seen.append(x.detach().clone())
            return x.sum(1)

    x_real = torch.randn(32, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    L.dragan_penalty(Recorder(), x_real, x_real + 100.0, generator=torch.Generator().manual_seed(3), c=0.5)
    shift = seen[0] - x_real
    assert shift.min() >= 0 and shift.max() <= 0.5 * x_real.std() + 1e-12
    assert shift.max() > 0.25 * x_real.std()  # and it does perturb
