"""Input optimisation, universal perturbations, spatial attacks and EOT, adversarial patch."""
import pytest
import torch

from coursekit.attacks import (adversarial_patch, apply_patch, eot_pgd, fooling_rate,
                               optimize_input, patch_success_rate, pgd, rotate_translate,
                               spatial_attack, survival_rate, universal_perturbation)
from coursekit.attacks.spatial import spatial_grid
from coursekit.data import mnist


@pytest.fixture(scope="module")
def batch():
    return mnist("test").tensors(32)


# ---------------------------------------------------------------- the iguana problem
def test_from_noise_reaches_the_target_but_looks_like_nothing(cnn, batch):
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(10, 1, 28, 28, generator=g)
    target = torch.arange(10)
    x, hist = optimize_input(cnn, noise, target, steps=60, lr=0.05)
    with torch.no_grad():
        probs = cnn(x).softmax(1)
    assert (probs.argmax(1) == target).all()
    assert probs[torch.arange(10), target].min() > 0.9
    assert hist["loss"][-1] < hist["loss"][0] and len(hist["loss"]) == 60
    # ... yet it is no digit: far from every real image of its class
    real, labels = batch
    nearest = torch.cdist(x.flatten(1), real.flatten(1)).min(1).values
    assert nearest.min() > 5.0


def test_closeness_term_keeps_the_forgery_near_the_start(cnn, batch):
    x0, y = batch[0][:8], batch[1][:8]
    target = (y + 1) % 10
    loose, _ = optimize_input(cnn, x0, target, lam=0.0, steps=60, lr=0.05)
    tight, hist = optimize_input(cnn, x0, target, lam=1.0, steps=60, lr=0.05)
    d = lambda z: (z - x0).flatten(1).norm(dim=1)  # noqa: E731
    assert d(tight).mean() < d(loose).mean()
    with torch.no_grad():
        assert (cnn(tight).argmax(1) == target).float().mean() >= 0.75
    assert hist["distance"][-1] == pytest.approx(d(tight).mean().item(), rel=0.2)


def test_anchor_can_differ_from_the_start(cnn, batch):
    x0, y = batch[0][:4], batch[1][:4]
    noise = torch.rand_like(x0)
    x, hist = optimize_input(cnn, noise, y, lam=5.0, x0=x0, steps=40, lr=0.05)
    assert hist["distance"][-1] < hist["distance"][0]


def test_untargeted_input_optimisation_moves_away(cnn, batch):
    x0, y = batch[0][:8], batch[1][:8]
    x, hist = optimize_input(cnn, x0, y, steps=40, lr=0.02, targeted=False)
    assert hist["ce"][-1] > hist["ce"][0]
    with torch.no_grad():
        assert (cnn(x).argmax(1) != y).float().mean() >= 0.75


# ---------------------------------------------------------------- universal perturbations
def test_universal_perturbation_fools_held_out_images(cnn):
    x, _ = mnist("test").tensors(300)
    v = universal_perturbation(cnn, x[:100], xi=0.3, max_passes=1,
                               generator=torch.Generator().manual_seed(0))
    assert v.shape == (1, 1, 28, 28) and v.abs().max() <= 0.3 + 1e-6
    # reference run (200 images, 2 passes): 68% / 77% on held-out digits at ξ = 0.2 / 0.3
    assert fooling_rate(cnn, x[100:], v) > 0.4
    assert fooling_rate(cnn, x[100:], torch.zeros_like(v)) == 0.0


def test_universal_perturbation_l2_ball(cnn, batch):
    v = universal_perturbation(cnn, batch[0][:20], xi=3.0, norm="l2", max_passes=1)
    assert v.norm() <= 3.0 + 1e-5


# ---------------------------------------------------------------- spatial and EOT
def test_rotate_translate_geometry():
    z = torch.zeros(1, 1, 5, 5)
    z[0, 0, 0, 4] = 1                                   # top-right corner
    assert rotate_translate(z, 90.0, 0, 0)[0, 0, 0, 0] == pytest.approx(1, abs=1e-5)
    assert rotate_translate(z, 0.0, -1, 1)[0, 0, 1, 3] == pytest.approx(1, abs=1e-5)
    assert torch.allclose(rotate_translate(z, 0.0, 0, 0), z, atol=1e-6)
    assert spatial_grid(30, 3, 31, 7).shape == (31 * 49, 3)


def test_spatial_attack_fools_with_small_turns_and_shifts(cnn, batch):
    x, y = batch
    x_adv = spatial_attack(cnn, x, y, n_angles=7, n_shifts=3)
    with torch.no_grad():
        acc = (cnn(x_adv).argmax(1) == y).float().mean()
        clean = (cnn(x).argmax(1) == y).float().mean()
    assert acc < clean - 0.2


def test_spatial_attack_picks_the_worst_grid_point(cnn, batch):
    x, y = batch[0][:6], batch[1][:6]
    x_adv = spatial_attack(cnn, x, y, n_angles=3, n_shifts=1, max_shift=0)
    with torch.no_grad():
        losses = torch.stack([torch.nn.functional.cross_entropy(
            cnn(rotate_translate(x, a, 0, 0)), y, reduction="none") for a in (-30.0, 0.0, 30.0)])
        ours = torch.nn.functional.cross_entropy(cnn(x_adv), y, reduction="none")
        fooled_any = torch.stack([cnn(rotate_translate(x, a, 0, 0)).argmax(1) != y
                                  for a in (-30.0, 0.0, 30.0)]).any(0)
    assert torch.equal(cnn(x_adv).argmax(1) != y, fooled_any)
    assert torch.allclose(ours[~fooled_any], losses.max(0).values[~fooled_any], atol=1e-5)


def test_eot_survives_random_transformations_better_than_pgd(cnn, batch):
    x, y = batch[0][:24], batch[1][:24]
    g = torch.Generator().manual_seed(0)
    plain = pgd(cnn, x, y, 0.1, 0.01, 20, random_start=False)
    robust = eot_pgd(cnn, x, y, 0.1, 0.01, 20, samples=8, generator=g)
    s_plain = survival_rate(cnn, plain, y, samples=10, generator=torch.Generator().manual_seed(1))
    s_eot = survival_rate(cnn, robust, y, samples=10, generator=torch.Generator().manual_seed(1))
    assert s_eot > s_plain + 0.1


# ---------------------------------------------------------------- adversarial patch
def test_apply_patch_places_the_square():
    patch = torch.arange(4.0).view(1, 2, 2) / 4
    out = apply_patch(torch.full((2, 1, 4, 4), 0.9), patch, torch.tensor([0, 2]), torch.tensor([1, 0]))
    assert torch.equal(out[0, 0, 0:2, 1:3], patch[0]) and torch.equal(out[1, 0, 2:4, 0:2], patch[0])
    assert (out[0, 0, 2:] == 0.9).all()


def test_adversarial_patch_pushes_towards_its_target(cnn):
    x, y = mnist("train").tensors(1000)
    xt, yt = mnist("test").tensors(300)
    g = torch.Generator().manual_seed(0)
    patch = adversarial_patch(cnn, x, target=3, size=12, steps=60, lr=0.1, batch_size=64,
                              generator=g)
    assert patch.shape == (1, 12, 12) and 0 <= patch.min() and patch.max() <= 1
    rate = patch_success_rate(cnn, xt, yt, patch, 3, generator=g)
    noise = torch.rand(1, 12, 12, generator=g)
    base = patch_success_rate(cnn, xt, yt, noise, 3, generator=g)
    # reference run (200 steps): 52% for a 12 × 12 patch, against ~0% for a random one
    assert rate > base + 0.15
