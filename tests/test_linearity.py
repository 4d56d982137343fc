"""coursekit.linearity and the ε / n widget: the board example exactly, the dimension argument,
near-linearity of mnist-cnn along the FGSM direction, and the model-comparison helpers."""
from fractions import Fraction

import matplotlib
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from coursekit import linearity as L
from coursekit.attacks import fgsm
from coursekit.data import mnist
from coursekit.linearity.models import _softmax_regression
from coursekit.train import predict

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def digits():
    return mnist("test").tensors(60)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()]


def _assert_untouched(model, before):
    params, modes = before
    after_params, after_modes = _state(model)
    assert after_modes == modes, "the model's train/eval flags changed"
    assert all(torch.equal(params[k], after_params[k]) for k in params), "the model's state changed"


# --- 1. the board example (lecture transcript and COURSE_DESIGN.md, "03 why linearity") ------

def test_board_example_numbers_are_exact():
    b = L.board_example()
    assert b.eps == Fraction(1, 5)
    assert b.y_hat == -4
    assert b.x_star == tuple(Fraction(v) for v in ("1.2", "-0.4", "1.8", "0.4", "3.4", "-1.4"))
    assert b.w_sq == 28 and b.w_l1 == 12
    assert b.y_star == Fraction(8, 5) == b.y_hat + b.eps * b.w_sq   # 1.6, not the board's 0.5
    assert b.y_star != Fraction(1, 2)
    assert b.y_sign == Fraction(-8, 5) == b.y_hat + b.eps * b.w_l1  # −1.6
    assert b.max_move_sign == Fraction(1, 5)                        # no input moves more than ε
    assert b.max_move_star == Fraction(3, 5)                        # the w step moves one by 3ε
    assert all(abs(s - x) <= b.eps for s, x in zip(b.x_sign, L.BOARD_X))


def test_board_example_floats_are_read_as_decimals_and_agree_with_float64():
    # 0.2 is read as 1/5, so the float input gives the same exact answer ...
    assert L.board_example(eps=0.2) == L.board_example(eps="0.2") == L.board_example()
    # ... and float64 arithmetic agrees to rounding (tolerance 1e-12).
    w, x = torch.tensor(L.BOARD_W, dtype=torch.float64), torch.tensor(L.BOARD_X, dtype=torch.float64)
    assert (w @ (x + 0.2 * w)).item() == pytest.approx(1.6, abs=1e-12)
    assert (w @ (x + 0.2 * w.sign())).item() == pytest.approx(-1.6, abs=1e-12)


def test_sign_step_with_zero_weights_leaves_those_inputs_alone():
    assert L.sign((2, 0, -3)) == (1, 0, -1)
    assert L.step_along_sign((1, 1, 1), (2, 0, -3), "0.5") == (Fraction(3, 2), 1, Fraction(1, 2))
    assert L.linear_output((2, 0, -3), (1, 1, 1), b=1) == 0


@pytest.mark.parametrize("call, match", [
    (lambda: L.board_example(w=(1, 2), x=(1, 2, 3)), "same length"),
    (lambda: L.board_example(eps=-0.1), "eps must be >= 0"),
    (lambda: L.linear_output((), ()), "non-empty"),
    (lambda: L.linear_output((1, float("nan")), (1, 2)), "finite"),
])
def test_board_helpers_reject_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_board_helpers_reject_non_numbers():
    with pytest.raises(TypeError, match="expected a number"):
        L.linear_output((True, 1), (1, 1))


# --- 2. the dimension argument on a random linear model -----------------------------------

def test_linear_dimension_demo_change_is_eps_times_l1_norm_and_grows_with_n():
    small, big = L.linear_dimension_demo(16, 0.05), L.linear_dimension_demo(4096, 0.05)
    for s in (small, big):
        assert s["y_adv"] - s["y_hat"] == pytest.approx(s["change"], rel=1e-9)
        assert s["max_move"] == pytest.approx(0.05, abs=1e-12)
    assert big["change"] > 50 * small["change"]
    # E‖w‖₁ = n·√(2/π) for w ~ N(0, 1)ⁿ; at n = 4096 the draw is within 5% of it
    assert big["change"] == pytest.approx(big["expected_change"], rel=0.05)
    with pytest.raises(ValueError, match="n must be"):
        L.linear_dimension_demo(0, 0.1)
    with pytest.raises(ValueError, match="eps must be"):
        L.linear_dimension_demo(10, -1.0)


# --- 3. logistic regression at several resolutions -----------------------------------------

def test_logistic_regression_is_the_logistic_loss_and_fgsm_moves_its_logit_by_eps_l1():
    torch.manual_seed(0)
    model = L.LogisticRegression(7)
    x = torch.full((4, 1, 7, 7), 0.5)              # mid-grey: a 0.1 step is never clipped
    y = torch.tensor([0, 1, 1, 0])
    z = model.linear(x.flatten(1)).squeeze(1)
    # reference: torch's binary cross-entropy on the single logit z
    assert F.cross_entropy(model(x), y).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(z, y.float()).item(), abs=1e-6)
    z_adv = model.linear(fgsm(model, x, y, 0.1).flatten(1)).squeeze(1)
    shift = 0.1 * model.w.abs().sum()
    expected = torch.where(y == 1, z - shift, z + shift)   # FGSM pushes z away from the label
    assert torch.allclose(z_adv, expected, atol=1e-5)


def test_subsample_keeps_original_pixels():
    x, _ = mnist("test").tensors(3)
    assert torch.equal(L.subsample(x, 7), x[..., 2::4, 2::4])
    assert L.subsample(x, 14).shape == (3, 1, 14, 14) and torch.equal(L.subsample(x, 28), x)
    with pytest.raises(ValueError, match="size must be"):
        L.subsample(x, 5)


def test_binary_mnist_holds_two_digits():
    x, y = L.binary_mnist("test", (3, 7), n=200)
    assert x.shape == (200, 1, 28, 28) and set(y.tolist()) == {0, 1}
    labels = mnist("test").targets
    assert int(((labels == 3) | (labels == 7)).sum()) == 1010 + 1028   # official test counts
    with pytest.raises(ValueError, match="digits"):
        L.binary_mnist("test", (3, 3))


def test_fgsm_error_grows_with_resolution():
    # Goodfellow et al. 2015 §3: the change ε‖w‖₁ grows with the number of inputs. Seed 0,
    # 4000 training digits, 3 epochs (the notebook's quick budget): measured errors at ε = 0.1
    # were 0.358, 0.392, 0.462 on the first 500 test 3s and 7s.
    results = L.resolution_experiment(sizes=(7, 14, 28), eps=0.1, n_train=4000, n_test=500,
                                      epochs=3, lr=0.02, seed=0)
    errors = [r.fgsm_error for r in results]
    assert errors[0] < errors[1] < errors[2], errors
    assert all(r.clean_error < 0.1 for r in results)           # all three models work
    assert [r.n_inputs for r in results] == [49, 196, 784]
    # Goodfellow et al. 2015 §4 report 99.9% error for a shallow softmax classifier on MNIST
    # at ε = 0.25; the 28×28 logistic regression here must be fooled at least 95% of the time.
    x, y = L.binary_mnist("test", n=500)
    model = results[-1].model
    assert (predict(model, fgsm(model, x, y, 0.25)).argmax(1) != y).float().mean() >= 0.95


# --- 4. deep nets are nearly linear along the FGSM direction -------------------------------

def test_linear_fit_r2_matches_numpy_polyfit_and_is_one_on_lines():
    eps = [0.0, 0.02, 0.05, 0.07, 0.1]
    t = torch.tensor(eps, dtype=torch.float64)
    lines = torch.stack([3 * t - 1, -2 * t, 0 * t + 5], 1).unsqueeze(1)      # (E, 1, 3)
    assert L.linear_fit_r2(eps, lines).item() == pytest.approx(1.0, abs=1e-12)
    curve = torch.stack([t.pow(2), t.exp()], 1).unsqueeze(1)                   # (E, 1, 2)
    import numpy as np
    e = np.array(eps)
    ss_res = sum(((np.polyval(np.polyfit(e, c, 1), e) - c) ** 2).sum() for c in curve[:, 0].T.numpy())
    ss_tot = sum(((c - c.mean()) ** 2).sum() for c in curve[:, 0].T.numpy())
    assert L.linear_fit_r2(eps, curve).item() == pytest.approx(1 - ss_res / ss_tot, abs=1e-10)
    with pytest.raises(ValueError, match="logits must be"):
        L.linear_fit_r2(eps, lines[:2])


def test_cnn_logits_along_fgsm_are_nearly_straight(cnn, digits):
    # Goodfellow et al. 2015, Fig. 4: logits along sign(∇ₓL) are nearly linear in ε. On the first
    # 60 test digits, ε ≤ 0.1: median R² of the true-class logit measured 0.99 (bar: 0.95); all
    # ten logits pooled measured 0.93 (bar: 0.90), since the other logits bend where ReLUs switch.
    x, y = digits
    before = _state(cnn)
    eps = [0.01 * i for i in range(11)]
    logits = L.logits_along_fgsm(cnn, x, y, eps)
    assert logits.shape == (11, 60, 10)
    assert torch.allclose(logits[0], predict(cnn, x), atol=1e-5)                 # ε = 0 is x
    for i in (3, 10):                                     # the ray is FGSM itself at each ε
        assert torch.allclose(logits[i], predict(cnn, fgsm(cnn, x, y, eps[i])), atol=1e-4)
    true_logit = logits[:, torch.arange(len(y)), y].unsqueeze(2)
    assert L.linear_fit_r2(eps, true_logit).median() >= 0.95
    assert L.linear_fit_r2(eps, logits).median() >= 0.90
    _assert_untouched(cnn, before)


# --- 5. comparing models --------------------------------------------------------------------

def test_shipped_classifiers_and_topping_up_to_three_models():
    shipped = L.shipped_classifiers()
    assert {"mnist-cnn", "mnist-mlp"} <= set(shipped)
    assert not set(shipped) & {"mnist-cnn-robust", "mnist-certified"}     # ordinary training only
    assert {"mnist-cnn-robust", "mnist-certified"} <= set(L.shipped_classifiers(defended=True))
    assert "mnistm-cnn" not in shipped                                    # takes colour digits
    models = L.comparison_models(min_models=len(shipped) + 1, n_train=2000)
    assert len(models) == len(shipped) + 1
    extra = next(m for name, m in models.items() if name not in shipped)
    assert not extra.training
    with pytest.raises(ValueError, match="min_models"):
        L.comparison_models(min_models=0)


def test_input_gradient_norm_matches_per_example_autograd_and_leaves_model_alone(cnn, digits):
    x, y = digits[0][:8], digits[1][:8]
    cnn.train()                                   # even a model left in train mode ...
    before = _state(cnn)
    got = L.input_gradient_norm(cnn, x, y)
    _assert_untouched(cnn, before)                # ... stays so, BN statistics untouched
    cnn.eval()
    for i in range(3):                            # reference: plain autograd, one image at a time
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(cnn(xi), y[i:i + 1]), xi)
        assert got[i].item() == pytest.approx(g.abs().sum().item(), rel=1e-4)


def test_loss_rise_is_first_order_at_small_eps():
    # L(x_adv) − L(x) ≈ ∇ₓL·(x_adv − x) (Simon-Gabriel et al. 2019, eq. 2): on softmax
    # regression at ε = 0.001 the two agree within 5% (measured ratio 1.02).
    model = _softmax_regression()
    x, y = mnist("test").tensors(200)
    torch.manual_seed(0)
    from coursekit.train import train_classifier
    train_classifier(model, *mnist("train").tensors(2000), epochs=1, lr=0.01, progress=False)
    measured, predicted = L.first_order_loss_rise(model, x, y, 0.001)
    assert measured == pytest.approx(predicted, rel=0.05)


def test_vulnerability_table_columns_and_rank_correlation(cnn, digits):
    x, y = digits[0][:20], digits[1][:20]
    rows = L.vulnerability_table({"mnist-cnn": cnn}, x, y, eps=0.1, pgd_steps=3)
    assert set(rows[0]) == {"model", "grad_l1", "loss_rise", "loss_rise_first_order", "clean_acc",
                            "fgsm_acc", "pgd_acc"}
    assert rows[0]["pgd_acc"] <= rows[0]["fgsm_acc"] + 0.05 <= rows[0]["clean_acc"] + 0.05
    a, b = [3.0, 1.0, 2.0, 7.0], [0.1, 0.5, 0.2, 0.0]
    assert L.rank_correlation(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


# --- 6. decision regions in the plane (Liu et al. 2016, Fig. 3) ------------------------------

def test_plane_directions_are_orthonormal_and_the_centre_is_x(cnn, digits):
    x, y = digits[0][:1], digits[1][:1]
    u, v = L.plane_directions(cnn, x, y, torch.Generator().manual_seed(0))
    assert u.norm().item() == pytest.approx(1, abs=1e-5) and v.norm().item() == pytest.approx(1, abs=1e-5)
    assert abs((u * v).sum().item()) < 1e-5
    plane = L.decision_plane(cnn, x, u, v, extent=4.0, steps=9)
    assert plane.shape == (9, 9)
    assert plane[4, 4].item() == predict(cnn, x).argmax(1).item()
    with pytest.raises(ValueError, match="single image"):
        L.plane_directions(cnn, digits[0][:2], digits[1][:2])


def test_boundary_distance_on_a_linear_model_is_margin_over_norm():
    # For z = wᵀx + b the label flips where z = 0: at t = z / ‖w‖₂ along −w/‖w‖₂ (for y = 1).
    torch.manual_seed(0)
    model = L.LogisticRegression(4)
    x = torch.rand(5, 1, 4, 4)
    z = model.linear(x.flatten(1)).squeeze(1).detach()
    y = (z > 0).long()
    w = model.w
    d = (-(2 * y - 1).float().view(-1, 1) * (w / w.norm())).view_as(x)
    got = L.boundary_distance(model, x, y, d, max_dist=5.0, steps=5001)
    assert torch.allclose(got, (z.abs() / w.norm()).float(), atol=2e-3)   # grid step 1e-3


# --- the widget -----------------------------------------------------------------------------

def test_widget_updates_from_sliders_and_draws_a_labelled_figure():
    from coursekit.widgets import LinearDimensionDemo
    demo = LinearDimensionDemo(eps=0.05, n=64)
    state = demo.update(0.01, 1000)
    assert state["change"] == pytest.approx(L.linear_dimension_demo(1000, 0.01)["change"])
    ax = state["figure"].axes[0]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    box = demo.widget()
    demo.sliders["n"].value = 2000                # moving a slider recomputes the state
    assert demo.state["n"] == 2000
    assert demo.state["change"] == pytest.approx(L.linear_dimension_demo(2000, demo.state["eps"])["change"])
    assert len(box.children) == 2
    with pytest.raises(ValueError, match="max_n"):
        LinearDimensionDemo(max_n=1)
