"""Certification: interval bounds (Gowal et al. 2018) and Wong & Kolter 2018's dual network.

What is checked: a bound through one linear layer worked by hand; IBP equal to ART's
interval (box) certifier on the same network; both bounds exact for a
single linear layer (the minimising corner attains them); both contain the outputs of
random points, corners and PGD points of the ball; Wong–Kolter equals an independent dense
NumPy version of its Algorithm 1 / Theorem 1; it is much tighter than IBP on a normally
trained network, can be looser on its own for a unit (hence the intersection), and with the
intersection is never looser; IBP training raises certified accuracy above plain training.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from coursekit.attacks import pgd
from coursekit.defenses import (certified_accuracy, certify, interval_bounds, margin_lower_bounds,
                                train_ibp, wong_kolter_bounds)
from coursekit.defenses.certified_training import ramp
from coursekit.defenses.certify import margin_spec
from coursekit.models import build, load_pretrained
from coursekit.models.classifiers import Normalize
from coursekit.models.pretrained import read_manifest
from coursekit.train import accuracy, train_classifier


def tiny_convnet(seed: int = 0) -> nn.Sequential:
    """Normalize, two strided convs and two linear layers: every supported layer type."""
    torch.manual_seed(seed)
    return nn.Sequential(Normalize(), nn.Conv2d(1, 4, 4, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 8, 3, stride=2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 20), nn.ReLU(), nn.Linear(20, 10)).eval()


@pytest.fixture(scope="module")
def digits(test_set):
    x, y = test_set
    return x[:8], y[:8]


def test_interval_through_one_linear_layer_by_hand():
    # z = W x + b, W = [[1, -2], [3, 0.5]], b = [0.5, -1], x = (0.2, 0.6), eps = 0.1:
    # centre W x + b = (0.2 - 1.2 + 0.5, 0.6 + 0.3 - 1) = (-0.5, -0.1);
    # radius |W| (0.1, 0.1) = (0.3, 0.35); bounds [-0.8, -0.2] and [-0.45, 0.25].
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
        lin.bias.copy_(torch.tensor([0.5, -1.0]))
    net = nn.Sequential(nn.Flatten(), lin)
    x = torch.tensor([0.2, 0.6]).view(1, 1, 1, 2)
    for bound in (interval_bounds, wong_kolter_bounds):
        lower, upper = bound(net, x, 0.1)
        torch.testing.assert_close(lower, torch.tensor([[-0.8, -0.45]]))
        torch.testing.assert_close(upper, torch.tensor([[-0.2, 0.25]]))


class _ArtNet(nn.Module):
    """The same layers as a plain module: ART's converter follows ``children()`` and infers the
    flatten between the convolutions and the dense layers itself."""

    def __init__(self):
        super().__init__()
        self.c1, self.r1 = nn.Conv2d(1, 4, 4, stride=2, padding=1), nn.ReLU()
        self.c2, self.r2 = nn.Conv2d(4, 8, 3, stride=2), nn.ReLU()
        self.f1, self.r3, self.f2 = nn.Linear(8 * 6 * 6, 20), nn.ReLU(), nn.Linear(20, 10)

    def forward(self, x):
        x = self.r2(self.c2(self.r1(self.c1(x))))
        return self.f2(self.r3(self.f1(x.flatten(1))))


def test_interval_bounds_match_art(digits):
    # witness: ART's PyTorchIBPClassifier.predict_intervals (box domain, inputs clipped to [0, 1])
    from art.estimators.certification.interval import PyTorchIBPClassifier
    torch.manual_seed(0)
    net = _ArtNet().eval()
    ours = nn.Sequential(net.c1, net.r1, net.c2, net.r2, nn.Flatten(), net.f1, net.r3, net.f2)
    x = digits[0]
    art = PyTorchIBPClassifier(model=net, loss=nn.CrossEntropyLoss(), input_shape=(1, 28, 28),
                               nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")
    reference = torch.from_numpy(art.predict_intervals(x.numpy(), bounds=0.05, limits=[0.0, 1.0]))
    lower, upper = interval_bounds(ours, x, 0.05)
    torch.testing.assert_close(lower.detach(), reference[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(upper.detach(), reference[:, 1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("clip", [False, True])
def test_single_linear_layer_bounds_are_attained(digits, clip):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    x, eps = digits[0], 0.1
    lo_box, up_box = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
    if not clip:
        lo_box, up_box = x - eps, x + eps
    W = net[1].weight.detach()
    for bound in (interval_bounds, wong_kolter_bounds):
        lower, upper = bound(net, x, eps, clip=clip)
        for j in range(10):  # the box corner that minimises (maximises) output j attains its bound
            neg = (W[j] < 0).view(1, 1, 28, 28)
            argmin = torch.where(neg, up_box, lo_box)
            argmax = torch.where(neg, lo_box, up_box)
            torch.testing.assert_close(net(argmin)[:, j].detach(), lower[:, j].detach(), atol=1e-4, rtol=0)
            torch.testing.assert_close(net(argmax)[:, j].detach(), upper[:, j].detach(), atol=1e-4, rtol=0)


def _sampled_points(model, x, y, eps, n_random=64):
    """Corners and uniform points of the clipped ball, and PGD points (targeted to each class)."""
    g = torch.Generator().manual_seed(1)
    pts = []
    for i in range(n_random):
        u = torch.rand(x.shape, generator=g)
        delta = eps * (2 * u - 1) if i % 2 else eps * torch.sign(2 * u - 1)
        pts.append((x + delta).clamp(0, 1))
    pts.append(pgd(model, x, y, eps, alpha=eps / 4, steps=10, generator=g))
    for t in range(10):
        target = torch.full_like(y, t)
        pts.append(pgd(model, x, target, eps, alpha=eps / 4, steps=10, targeted=True, generator=g))
    return pts


@pytest.mark.parametrize("net_name", ["tiny-conv", "mnist-mlp"])
def test_bounds_contain_every_sampled_point(digits, net_name):
    net = tiny_convnet() if net_name == "tiny-conv" else load_pretrained("mnist-mlp")
    x, y = digits
    eps = 0.1 if net_name == "tiny-conv" else 0.02
    C = margin_spec(y, 10)
    bounds = [interval_bounds(net, x, eps), wong_kolter_bounds(net, x, eps, intersect=False),
              wong_kolter_bounds(net, x, eps)]
    margin_bounds = [interval_bounds(net, x, eps, spec=C)[0],
                     wong_kolter_bounds(net, x, eps, spec=C, intersect=False)[0],
                     wong_kolter_bounds(net, x, eps, spec=C)[0]]
    with torch.no_grad():
        for x_s in _sampled_points(net, x, y, eps):
            assert (x_s - x).abs().max() <= eps + 1e-6
            z = net(x_s)
            for lower, upper in bounds:
                assert (z >= lower - 1e-4).all() and (z <= upper + 1e-4).all()
            margins = (C @ z[:, :, None]).squeeze(2)
            for lower in margin_bounds:
                assert (margins >= lower - 1e-4).all()


def _dense_layers(net):
    """The (float64) network as [(W, b)] matrices, one per affine map between ReLUs."""
    maps, W, b = [], None, None
    shape = (1, 1, 28, 28)
    for layer in net:
        if isinstance(layer, nn.ReLU):
            maps.append((W, b))
            W = b = None
            continue
        if isinstance(layer, nn.Flatten):
            shape = (1, int(np.prod(shape[1:])))
            continue
        n_in = int(np.prod(shape[1:]))
        basis = torch.eye(n_in, dtype=torch.float64).view(n_in, *shape[1:])
        with torch.no_grad():
            bias = layer(torch.zeros(1, *shape[1:], dtype=torch.float64))
            A = (layer(basis) - bias).flatten(1).T.numpy()                        # (out, in)
        shape = (1, *bias.shape[1:])
        bias = bias.flatten().numpy()
        W, b = (A, bias) if W is None else (A @ W, A @ b + bias)
    maps.append((W, b))
    return maps


def _dense_wong_kolter(maps, l0, u0, C):
    """Algorithm 1 and Theorem 1 of Wong & Kolter in plain NumPy, one example, box input."""
    c0, r0 = (u0 + l0) / 2, (u0 - l0) / 2
    lows, ups = [], []
    for i, (W, b) in enumerate(maps):
        lam = C @ W if i == len(maps) - 1 else W                        # rows: the objectives
        const = (C @ b) if i == len(maps) - 1 else b.copy()
        lo_extra = np.zeros(len(lam))
        up_extra = np.zeros(len(lam))
        for j in reversed(range(i)):
            l, u = lows[j], ups[j]
            unstable = (l < 0) & (u > 0)
            d = np.where(unstable, u / np.where(unstable, u - l, 1), (l >= 0).astype(float))
            nu = lam * d
            lo_extra += (np.clip(-nu, 0, None) * np.where(unstable, l, 0)).sum(1)
            up_extra -= (np.clip(nu, 0, None) * np.where(unstable, l, 0)).sum(1)
            const = const + nu @ maps[j][1]
            lam = nu @ maps[j][0]
        lows.append(const + lo_extra + lam @ c0 - np.abs(lam) @ r0)
        ups.append(const + up_extra + lam @ c0 + np.abs(lam) @ r0)
    return lows[-1], ups[-1]


def test_wong_kolter_equals_dense_algorithm_1(digits):
    net = tiny_convnet(seed=3).double()
    x, y = digits
    x, eps = x.double(), 0.08
    maps = _dense_layers(net)
    C = margin_spec(y, 10).double()
    lower, upper = wong_kolter_bounds(net, x, eps, intersect=False)
    spec_lower, _ = wong_kolter_bounds(net, x, eps, spec=C, intersect=False)
    for n in range(len(x)):
        l0 = (x[n] - eps).clamp(0, 1).flatten().numpy()
        u0 = (x[n] + eps).clamp(0, 1).flatten().numpy()
        lo, up = _dense_wong_kolter(maps, l0, u0, np.eye(10))
        np.testing.assert_allclose(lower[n].numpy(), lo, atol=1e-8)
        np.testing.assert_allclose(upper[n].numpy(), up, atol=1e-8)
        spec_lo, _ = _dense_wong_kolter(maps, l0, u0, C[n].numpy())
        np.testing.assert_allclose(spec_lower[n].numpy(), spec_lo, atol=1e-8)


def test_wong_kolter_much_tighter_than_ibp_on_a_normally_trained_net(digits):
    net = load_pretrained("mnist-mlp")
    x, _ = digits
    li, ui = interval_bounds(net, x, 0.02)
    lw, uw = wong_kolter_bounds(net, x, 0.02, intersect=False)
    # measured: mean width Wong–Kolter / IBP = 0.13 (these 8 digits, eps 0.02); require < 0.5
    assert (uw - lw).mean() < 0.5 * (ui - li).mean()


def test_relaxation_alone_can_be_looser_than_ibp_so_layers_are_intersected():
    # f(x) = relu(x) for x in [-1, 1]: IBP's lower bound is relu(-1) = 0; Wong & Kolter's lower
    # line z >= u/(u-l) * x = x/2 gives -0.5. The intersection keeps the better of the two.
    net = nn.Sequential(nn.Flatten(), nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        for lin in (net[1], net[3]):
            lin.weight.fill_(1.0)
            lin.bias.zero_()
    x = torch.zeros(1, 1, 1, 1)
    assert interval_bounds(net, x, 1.0, clip=False)[0].item() == pytest.approx(0.0)
    assert wong_kolter_bounds(net, x, 1.0, clip=False, intersect=False)[0].item() == pytest.approx(-0.5)
    assert wong_kolter_bounds(net, x, 1.0, clip=False)[0].item() == pytest.approx(0.0)


def test_intersected_bounds_never_looser_than_ibp(digits):
    x, y = digits
    for net in (tiny_convnet(seed=5), load_pretrained("mnist-mlp")):
        li, ui = interval_bounds(net, x, 0.05)
        lw, uw = wong_kolter_bounds(net, x, 0.05)
        assert (lw >= li - 1e-5).all() and (uw <= ui + 1e-5).all()
        mi = margin_lower_bounds(net, x, y, 0.05, method="ibp")
        mw = margin_lower_bounds(net, x, y, 0.05, method="wong-kolter")
        assert (mw >= mi - 1e-5).all()


def test_bounds_leave_model_and_inputs_alone(digits):
    net = load_pretrained("mnist-mlp").train()
    x, y = digits
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x0 = x.clone()
    certify(net, x, y, 0.05, method="wong-kolter")
    interval_bounds(net, x, 0.05)
    assert net.training and all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert torch.equal(x, x0)


def test_clear_errors():
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="cannot bound through a MaxPool2d layer"):
        interval_bounds(load_pretrained("mnist-lenet"), x, 0.1)
    with pytest.raises(ValueError, match="cannot bound through a BatchNorm2d layer"):
        interval_bounds(load_pretrained("mnist-cnn"), x, 0.1)
    with pytest.raises(ValueError, match="eps must be a number >= 0, got -0.1"):
        interval_bounds(tiny_convnet(), x, -0.1)
    with pytest.raises(ValueError, match="method must be one of"):
        certified_accuracy(tiny_convnet(), x, torch.tensor([1, 2]), 0.1, method="lp")
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        interval_bounds(tiny_convnet(), x * 2, 0.1)


def test_ramp_schedule():
    assert ramp(0.0, 0.1, 0.4) == 0.0 and ramp(0.1, 0.1, 0.4) == 0.0
    assert ramp(0.3, 0.1, 0.4) == pytest.approx(0.5) and ramp(0.9, 0.1, 0.4) == 1.0


def test_ibp_training_certifies_what_plain_training_does_not(test_set):
    # 2,000 digits, 2 epochs, eps ramped to 0.1: a small-scale version of the shipped recipe.
    from coursekit.data import mnist
    x, y = mnist("train").tensors()
    x, y = x[:2000], y[:2000]
    x_test, y_test = test_set[0][:500], test_set[1][:500]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        plain, robust = build("mnist-cnn-small"), build("mnist-cnn-small")
        robust.load_state_dict(plain.state_dict())
        train_classifier(plain, x, y, epochs=2, lr=2e-3, batch_size=50, progress=False)
        history = train_ibp(robust, x, y, eps=0.1, epochs=2, lr=2e-3, batch_size=50,
                            warmup=0.1, ramp_length=0.5, progress=False)
    assert history[-1]["eps"] == pytest.approx(0.1) and history[-1]["kappa"] == pytest.approx(0.5)
    cert_plain = certified_accuracy(plain, x_test, y_test, 0.05)
    cert_robust = certified_accuracy(robust, x_test, y_test, 0.05)
    # measured (seed 0): plain 0.0, IBP-trained 0.40 certified at eps = 0.05; require a clear gap
    assert cert_plain < 0.05 and cert_robust > 0.2


# ---------------------------------------------------------------- the shipped certified model
@pytest.fixture(scope="module")
def certified_model():
    return load_pretrained("mnist-certified")


def test_shipped_certified_model_matches_its_manifest(certified_model, test_set):
    x, y = test_set
    recorded = read_manifest()["mnist-certified"]["metrics"]
    eps = recorded["eps"]
    assert eps == 0.1 and recorded["n_test"] == 10_000
    cert_ibp = certified_accuracy(certified_model, x, y, eps, method="ibp")
    cert_wk = certified_accuracy(certified_model, x, y, eps, method="wong-kolter")
    assert cert_ibp == pytest.approx(recorded["certified_accuracy_ibp"], abs=1e-4)
    assert cert_wk == pytest.approx(recorded["certified_accuracy_wong_kolter"], abs=1e-4)
    assert accuracy(certified_model, x, y) == pytest.approx(recorded["test_accuracy"], abs=1e-4)
    # issue 5 asks for >= 90% certified at eps = 0.1 (Wong & Kolter 2018 certify 94.2%, Table 1)
    assert cert_ibp >= 0.90 and cert_wk >= cert_ibp
    # an attack can only find fewer failures than the certificate rules out
    assert recorded["pgd40_accuracy"] >= cert_wk


def test_no_attack_beats_the_certificate(certified_model, test_set):
    x, y = test_set[0][:200], test_set[1][:200]
    eps = 0.1
    certified = certify(certified_model, x, y, eps, method="wong-kolter")
    lower, upper = interval_bounds(certified_model, x, eps)
    fooled = torch.zeros(len(x), dtype=torch.bool)
    with torch.no_grad():
        for x_s in _sampled_points(certified_model, x, y, eps, n_random=32):
            z = certified_model(x_s)
            assert (z >= lower - 1e-4).all() and (z <= upper + 1e-4).all()
            fooled |= z.argmax(1) != y
    assert not (fooled & certified).any(), "an attack fooled a certified example"
    # PGD (untargeted and targeted to every class) finds no more than the certificate allows
    assert 1 - fooled.float().mean() >= certified.float().mean()


def test_each_bound_has_its_module_and_certify_keeps_every_name():
    # one implementation per bound (ibp.py, wong_kolter.py; shared pieces in bounds.py), and the
    # names importable from coursekit.defenses.certify as when it held all of them
    import importlib
    certify_module = importlib.import_module("coursekit.defenses.certify")
    from coursekit.defenses import bounds, ibp, wong_kolter
    for module, names in ((ibp, ("interval_bounds", "interval_step", "spec_interval")),
                          (wong_kolter, ("wong_kolter_bounds", "dual_bounds")),
                          (bounds, ("bound_layers", "input_box", "margin_spec", "_check_args"))):
        for name in names:
            obj = getattr(certify_module, name)
            assert obj is getattr(module, name) and obj.__module__ == module.__name__, name
