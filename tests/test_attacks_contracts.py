"""Every attack keeps the same promises: clear errors on bad input; x, the model's parameters,
buffers (batch-norm statistics), gradients and train/eval mode untouched, even when the model
arrives in train mode; output images in [0, 1] with x's shape and dtype."""
import pytest
import torch

from contract_helpers import snapshot_model
from coursekit import attacks as A
from coursekit.data import mnist
from coursekit.models import load_pretrained

# name -> attack(model, x, y, eps) with a small budget; y holds targets for targeted attacks
ATTACKS = {
    "fgsm": lambda m, x, y, eps: A.fgsm(m, x, y, eps),
    "pgd": lambda m, x, y, eps: A.pgd(m, x, y, eps, eps / 4, 3),
    "pgd-l2": lambda m, x, y, eps: A.pgd(m, x, y, eps * 10, eps, 3, norm="l2"),
    "pgd-targeted": lambda m, x, y, eps: A.pgd(m, x, (y + 1) % 10, eps, eps / 4, 3, targeted=True),
    "optimize_input": lambda m, x, y, eps: A.optimize_input(m, x, (y + 1) % 10, lam=0.1, steps=3)[0],
    "deepfool": lambda m, x, y, eps: A.deepfool(m, x, y, max_iter=3),
    "cw_l2": lambda m, x, y, eps: A.cw_l2(m, x, y, steps=5, binary_search_steps=2),
    "jsma": lambda m, x, y, eps: A.jsma(m, x, (y + 1) % 10, gamma=0.01),
    "finite_difference": lambda m, x, y, eps: A.finite_difference_attack(
        m, x, y, eps, max_queries=200, coords=20),
    "spsa": lambda m, x, y, eps: A.spsa(m, x, y, eps, max_queries=200, samples=8),
    "spatial": lambda m, x, y, eps: A.spatial_attack(m, x, y, n_angles=3, n_shifts=3),
    "eot_pgd": lambda m, x, y, eps: A.eot_pgd(m, x, y, eps, eps / 4, 2, samples=2),
    "apgd": lambda m, x, y, eps: A.apgd(m, x, y, eps, steps=3),
    "apgd-dlr": lambda m, x, y, eps: A.apgd(m, x, y, eps, steps=3, loss="dlr"),
    "apgd_t": lambda m, x, y, eps: A.apgd_t(m, x, y, eps, steps=3, targets=2),
    "square": lambda m, x, y, eps: A.square(m, x, y, eps, queries=20),
    "autoattack": lambda m, x, y, eps: A.autoattack(m, x, y, eps, steps=3, targets=2,
                                                    queries=20).x_adv,
}
# the ones that take an ε (and must refuse ε < 0)
WITH_EPS = ["fgsm", "pgd", "pgd-l2", "pgd-targeted", "finite_difference", "spsa", "eot_pgd",
            "apgd", "apgd-dlr", "apgd_t", "square", "autoattack"]


@pytest.fixture(scope="module")
def data():
    x, y = mnist("test").tensors(4)
    return x, y


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_leaves_model_and_input_alone_even_in_train_mode(name, data):
    model = load_pretrained("mnist-cnn").train()   # batch norm and dropout live
    x, y = data
    x_before, (state, modes, grads) = x.clone(), snapshot_model(model)
    x_adv = ATTACKS[name](model, x, y, 0.1)
    assert torch.equal(x, x_before), "x was modified"
    new_state, new_modes, new_grads = snapshot_model(model)
    assert new_modes == modes and all(m for m in new_modes), "train/eval mode changed"
    for k in state:
        assert torch.equal(state[k], new_state[k]), f"{k} changed"
    assert all(g is None for g in new_grads), "the attack filled parameter .grad fields"
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= 0 and x_adv.max() <= 1


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_works_inside_no_grad(name, data):
    model = load_pretrained("mnist-cnn")
    with torch.no_grad():
        x_adv = ATTACKS[name](model, *data, 0.1)
    assert x_adv.shape == data[0].shape and not x_adv.requires_grad


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_keeps_eval_mode(name, data):
    model = load_pretrained("mnist-cnn")
    ATTACKS[name](model, *data, 0.1)
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_rejects_pixels_outside_the_unit_range(name, data):
    model = load_pretrained("mnist-cnn")
    x, y = data
    with pytest.raises(ValueError, match=r"x must hold pixels in \[0, 1\]"):
        ATTACKS[name](model, x * 255, y, 0.1)
    with pytest.raises(ValueError, match=r"x must hold pixels in \[0, 1\]"):
        ATTACKS[name](model, x - 0.5, y, 0.1)


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_rejects_mismatched_batch_sizes(name, data):
    x, y = data
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        ATTACKS[name](load_pretrained("mnist-cnn"), x, y[:3], 0.1)


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_rejects_float_labels(name, data):
    x, y = data
    with pytest.raises(TypeError, match="y must be an integer tensor"):
        ATTACKS[name](load_pretrained("mnist-cnn"), x, y.float(), 0.1)


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_names_a_dtype_mismatch(name, data):
    x, y = data
    with pytest.raises(TypeError, match="x has dtype torch.float64 but the model's parameters"):
        ATTACKS[name](load_pretrained("mnist-cnn"), x.double(), y, 0.1)


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_works_in_float64(name, data):
    x, y = data
    x_adv = ATTACKS[name](load_pretrained("mnist-cnn").double(), x.double(), y, 0.1)
    assert x_adv.dtype == torch.float64 and 0 <= x_adv.min() and x_adv.max() <= 1


@pytest.mark.parametrize("name", WITH_EPS)
def test_attack_rejects_negative_eps(name, data):
    with pytest.raises(ValueError, match="eps must be a number >= 0, got -"):
        ATTACKS[name](load_pretrained("mnist-cnn"), *data, -0.1)


def test_non_image_input_is_refused(data):
    model = load_pretrained("mnist-cnn")
    x, y = data
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\)"):
        A.fgsm(model, x[0], y, 0.1)
    with pytest.raises(TypeError, match="x must be a float tensor"):
        A.fgsm(model, (x * 255).to(torch.uint8), y, 0.1)


def test_bad_parameters_are_named(data):
    model = load_pretrained("mnist-cnn")
    x, y = data
    with pytest.raises(ValueError, match="norm must be one of"):
        A.pgd(model, x, y, 0.1, 0.01, 2, norm="l1")
    with pytest.raises(ValueError, match="alpha must be a number > 0, got 0"):
        A.pgd(model, x, y, 0.1, 0, 2)
    with pytest.raises(ValueError, match="steps must be an int > 0, got 2.5"):
        A.pgd(model, x, y, 0.1, 0.01, 2.5)
    with pytest.raises(ValueError, match="max_queries must be an int > 0"):
        A.spsa(model, x, y, 0.1, max_queries=0)
    with pytest.raises(ValueError, match="theta must be a number in"):
        A.jsma(model, x, y, theta=2.0)
