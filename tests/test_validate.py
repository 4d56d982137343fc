"""Bad inputs that used to give a result that only looks right now raise an error that names
the argument (coursekit.validate, used at each public boundary)."""
import numpy as np
import pytest
import torch
from torch import nn

from contract_helpers import global_states, same_states
from coursekit.attacks import fgsm, pgd
from coursekit.attacks.blackbox import fd_gradient
from coursekit.attacks.patch import apply_patch
from coursekit.attacks.universal import fooling_rate
from coursekit.defenses import certified_accuracy, certify, interval_bounds, margin_lower_bounds
from coursekit.gan.losses import clip_weights
from coursekit.metrics.frechet import frechet_distance
from coursekit.metrics.human import error_rate_ci
from coursekit.validate import (as_bools, check_class_labels, check_finite, check_generator,
                                check_labels, check_nonempty)


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


@pytest.fixture
def x():
    return torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("bad", [-1, 10])
@pytest.mark.parametrize("fn", [certify, certified_accuracy, margin_lower_bounds])
def test_certification_refuses_labels_outside_the_classes(fn, bad, linear, x):
    # eye[y] wrapped: -1 was read as class 9
    with pytest.raises(ValueError, match=r"y must hold class labels"):
        fn(linear, x, torch.tensor([bad, 3]), 0.1)


@pytest.mark.parametrize("bad", [-1, 10])
@pytest.mark.parametrize("attack", [lambda m, x, y: fgsm(m, x, y, 0.1),
                                    lambda m, x, y: pgd(m, x, y, 0.1, 0.01, 3)])
def test_attacks_refuse_labels_outside_the_classes(attack, bad, linear, x):
    with pytest.raises(ValueError, match=r"y must hold class labels"):
        attack(linear, x, torch.tensor([bad, 3]))


@pytest.mark.parametrize("spec", [torch.zeros(4, 10), torch.zeros(2, 3, 7), torch.zeros(5, 3, 10)])
def test_interval_bounds_checks_the_shape_of_its_specification(spec, linear, x):
    with pytest.raises(ValueError, match=r"spec must have shape \(2, m, 10\)"):
        interval_bounds(linear, x, 0.1, spec=spec)


def test_interval_bounds_with_a_right_specification_still_works(linear, x):
    low, high = interval_bounds(linear, x, 0.1, spec=torch.ones(2, 3, 10))
    assert low.shape == high.shape == (2, 3) and (low <= high).all()


@pytest.mark.parametrize("clip", [-0.01, 0, float("nan")])
def test_clip_weights_needs_a_positive_bound(clip):
    D = nn.Linear(3, 1)
    before = [p.detach().clone() for p in D.parameters()]
    with pytest.raises(ValueError, match="clip must be a number > 0"):
        clip_weights(D, clip)
    assert all(torch.equal(a, b) for a, b in zip(before, D.parameters()))


@pytest.mark.parametrize("answers", [["no", "yes"], [2, 0], [0.5, 1.0]])
def test_error_rate_ci_reads_only_booleans(answers):
    with pytest.raises(TypeError, match="said_real must hold booleans"):
        error_rate_ci([True, False], answers)
    with pytest.raises(TypeError, match="is_real must hold booleans"):
        error_rate_ci(answers, [True, False])


def test_error_rate_ci_accepts_zeros_and_ones():
    assert error_rate_ci([1, 0, 1, 0], [True, False, False, True])[0] == 0.5


def test_frechet_distance_refuses_a_covariance_that_is_not_psd():
    good = (np.zeros(2), np.eye(2))
    for bad in [(np.zeros(2), -np.eye(2)), (np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))]:
        with pytest.raises(ValueError, match="positive semi-definite"):
            frechet_distance(bad, good)
        with pytest.raises(ValueError, match="positive semi-definite"):
            frechet_distance(good, bad)
    assert frechet_distance(good, good) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("row, col", [(-2, 3), (3, -1), (25, 0), (0, 26)])
def test_apply_patch_refuses_corners_off_the_image(row, col):
    with pytest.raises(ValueError, match="rows|cols"):
        apply_patch(torch.zeros(1, 1, 28, 28), torch.ones(1, 4, 4), torch.tensor([row]), torch.tensor([col]))


def test_apply_patch_at_the_last_corner_still_works():
    out = apply_patch(torch.zeros(1, 1, 28, 28), torch.ones(1, 4, 4), torch.tensor([24]), torch.tensor([24]))
    assert out[0, 0, 24:, 24:].eq(1).all() and out.sum() == 16


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_fooling_rate_refuses_a_non_finite_perturbation(value, linear, x):
    with pytest.raises(ValueError, match="v must be finite"):
        fooling_rate(linear, x, torch.full((1, 1, 28, 28), value))


@pytest.mark.parametrize("h", [0, -1e-3, float("nan"), float("inf")])
def test_fd_gradient_needs_a_finite_positive_step(h, linear, x):
    with pytest.raises(ValueError, match="h must be"):
        fd_gradient(linear, x[:1], torch.tensor([1]), h=h)


def test_the_checks_name_the_argument():
    with pytest.raises(ValueError, match="labels must hold class labels >= 0"):
        check_labels(torch.tensor([-1]), 1, "labels")
    with pytest.raises(ValueError, match=r"target must hold class labels in \[0, 4\], got values in \[0, 5\]"):
        check_class_labels(torch.tensor([0, 5]), 5, "target")
    with pytest.raises(ValueError, match="lr must be a finite number"):
        check_finite("lr", float("nan"))
    check_finite("lr", 1e-3)
    assert as_bools("b", [0, 1]).tolist() == [False, True]
    with pytest.raises(TypeError, match="g must be a torch.Generator or None, got int 0"):
        check_generator(0, "g")          # a seed is not "no generator"
    check_generator(None)
    check_generator(torch.Generator())
    with pytest.raises(ValueError, match="x_fake must hold at least one example"):
        check_nonempty(torch.zeros(0, 1, 2, 2), "x_fake")
    check_nonempty(torch.zeros(1, 1, 2, 2))


def test_a_caller_writing_into_mnist_changes_no_later_caller():
    from coursekit.data import mnist
    first = mnist("test")
    original = first.images[0].clone(), first.targets[0].item()
    first.images[0] = 255
    first.targets[0] = 3 if original[1] != 3 else 4
    again = mnist("test")
    assert torch.equal(again.images[0], original[0]) and again.targets[0].item() == original[1]
    assert torch.equal(again.tensors(1)[0][0, 0] * 255, original[0].float())


def test_changing_the_returned_feature_network_changes_no_metric():
    from coursekit.metrics import extract_features, feature_network
    images = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    before = extract_features(images, progress=False)
    net = feature_network("mnist")
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    after = extract_features(images, progress=False)
    assert torch.equal(before.features, after.features)
    assert any(p.abs().sum() > 0 for p in feature_network("mnist").parameters())


@pytest.mark.parametrize("run", [
    "resolution_experiment",
    "comparison_models",
    "train_defended"])
def test_library_functions_that_seed_leave_the_callers_rng_alone(run):
    from coursekit import linearity
    from coursekit.defenses import train_defended
    torch.manual_seed(1234)
    before = global_states()
    if run == "resolution_experiment":
        linearity.resolution_experiment(sizes=(7,), n_train=200, n_test=50, epochs=1)
    elif run == "comparison_models":
        shipped = len(linearity.shipped_classifiers())
        linearity.comparison_models(min_models=shipped + 1, n_train=200)
    else:
        train_defended("fgsm", n_train=200, n_val=50, epochs=1, progress=False)
    assert same_states(before, global_states()), f"{run} changed the global random state"


def test_seeded_runs_are_still_reproducible():
    from coursekit import linearity
    a = linearity.resolution_experiment(sizes=(7,), n_train=200, n_test=50, epochs=1)[0]
    torch.manual_seed(99)
    b = linearity.resolution_experiment(sizes=(7,), n_train=200, n_test=50, epochs=1)[0]
    assert a.clean_error == b.clean_error and a.w_l1 == b.w_l1


def test_certification_checks_dtype_device_batch_and_emptiness(linear, x):
    y = torch.tensor([1, 2])
    for fn in (certify, certified_accuracy, margin_lower_bounds):
        with pytest.raises(TypeError, match="x has dtype torch.float64 but the model's parameters"):
            fn(linear, x.double(), y, 0.1)
    with pytest.raises(TypeError, match="x has dtype"):
        interval_bounds(linear, x.double(), 0.1)
    with pytest.raises(ValueError, match="batch_size must be an int > 0"):
        certify(linear, x, y, 0.1, batch_size=0)
    with pytest.raises(ValueError, match="x must hold at least one example"):
        certified_accuracy(linear, x[:0], y[:0], 0.1)
    assert certify(linear, x[:0], y[:0], 0.1).shape == (0,)     # a mask of nothing is fine


# ---------------------------------------------------------------- GAN training steps
def _tiny_gan():
    from coursekit.gan.nets import MLPDiscriminator, MLPGenerator
    torch.manual_seed(0)
    return MLPGenerator(latent_dim=2, out_dim=2, hidden=8), MLPDiscriminator(in_dim=2, hidden=8)


def test_the_g_steps_restore_each_flag_of_d():
    """A layer of D the caller froze stays frozen after a G step (frozen() restores each flag)."""
    from coursekit.gan.trainer import frozen, g_step
    from coursekit.gan.losses import get_loss
    G, D = _tiny_gan()
    first = next(D.parameters())
    first.requires_grad_(False)
    flags = [p.requires_grad for p in D.parameters()]
    g_step(G, D, G.sample_z(4, torch.Generator().manual_seed(0)), get_loss("non-saturating"),
           torch.optim.SGD(G.parameters(), lr=0.1))
    assert [p.requires_grad for p in D.parameters()] == flags
    assert all(p.grad is None for p in D.parameters()), "G's step must not fill D's .grad"
    with frozen(D, G):
        assert not any(p.requires_grad for p in [*D.parameters(), *G.parameters()])
    assert [p.requires_grad for p in D.parameters()] == flags


def test_label_smoothing_is_refused_where_the_d_loss_has_other_targets():
    from coursekit.gan.losses import get_loss
    from coursekit.gan.trainer import d_step
    G, D = _tiny_gan()
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    z = G.sample_z(4, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="real_label"):
        d_step(G, D, torch.randn(4, 2), z, get_loss("lsgan"), opt, real_label=0.9)
    d_step(G, D, torch.randn(4, 2), z, get_loss("non-saturating"), opt, real_label=0.9)


@pytest.mark.parametrize("kwargs, match", [({"lr_d": 0}, "lr_d"), ({"lr_g": float("nan")}, "lr_g"),
                                           ({"rows": 3}, "sample_real")])
def test_train_gan_checks_rates_and_what_sample_real_returns(kwargs, match):
    from coursekit.gan.trainer import train_gan
    G, D = _tiny_gan()
    rows = kwargs.pop("rows", None)

    def sample_real(n, g):
        return torch.randn(rows or n, 2, generator=g)
    with pytest.raises(ValueError, match=match):
        train_gan(G, D, sample_real, steps=2, batch_size=4, progress=False, **kwargs)
