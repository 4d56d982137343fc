"""FGSM and PGD: exact agreement with torchattacks, strength on mnist-cnn, restarts."""
import pytest
import torch
import torchattacks

from coursekit.attacks import fgsm, pgd
from coursekit.data import mnist
from coursekit.models import load_pretrained
from coursekit.train import accuracy


@pytest.fixture(scope="module")
def batch():
    return mnist("test").tensors(64)


def _max_diff(a, b):
    return (a - b).abs().max().item()


# ---------------------------------------------------------------- exactness vs torchattacks
@pytest.mark.parametrize("eps", [0.05, 0.25])
@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_matches_torchattacks(cnn, batch, eps, targeted):
    x, y = batch
    labels = (y + 1) % 10 if targeted else y
    ref = torchattacks.FGSM(cnn, eps=eps)
    if targeted:
        ref.set_mode_targeted_by_label(quiet=True)
    assert _max_diff(fgsm(cnn, x, labels, eps, targeted=targeted), ref(x, labels)) <= 1e-6


@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_linf_matches_torchattacks(cnn, batch, targeted):
    x, y = batch
    labels = (y + 1) % 10 if targeted else y
    ref = torchattacks.PGD(cnn, eps=0.3, alpha=0.01, steps=40, random_start=False)
    if targeted:
        ref.set_mode_targeted_by_label(quiet=True)
    ours = pgd(cnn, x, labels, eps=0.3, alpha=0.01, steps=40, random_start=False,
               targeted=targeted)
    assert _max_diff(ours, ref(x, labels)) <= 1e-6


def test_bim_is_pgd_without_random_start(cnn, batch):
    x, y = batch
    ref = torchattacks.BIM(cnn, eps=0.1, alpha=0.01, steps=10)
    ours = pgd(cnn, x, y, eps=0.1, alpha=0.01, steps=10, random_start=False)
    assert _max_diff(ours, ref(x, y)) <= 1e-6


def test_pgd_l2_matches_torchattacks_at_batch_size_one(cnn, batch):
    # torchattacks differentiates the batch-mean loss and divides by ‖g‖ + 1e-10, so its L2
    # step depends on the batch size; at batch size 1 mean and sum coincide.
    x, y = batch[0][:16], batch[1][:16]
    kw = dict(eps=2.0, alpha=0.2, steps=20, random_start=False)
    ref = torchattacks.PGDL2(cnn, **kw)
    for i in range(len(x)):
        ours = pgd(cnn, x[i:i + 1], y[i:i + 1], norm="l2", **kw)
        assert _max_diff(ours, ref(x[i:i + 1], y[i:i + 1])) <= 1e-6, f"example {i}"


def test_pgd_l2_does_not_drift_with_batch_size_as_torchattacks_does(cnn, batch):
    # In float64, so that the only difference between batch sizes is the algorithm's.
    model = load_pretrained("mnist-cnn").double()
    x, y = batch[0][:16].double(), batch[1][:16]
    kw = dict(eps=2.0, alpha=0.2, steps=5, random_start=False)
    def in_chunks(attack):
        return torch.cat([attack(xc, yc) for xc, yc in zip(x.split(4), y.split(4))])
    ours = lambda xc, yc: pgd(model, xc, yc, norm="l2", **kw)  # noqa: E731
    assert _max_diff(ours(x, y), in_chunks(ours)) <= 1e-9
    theirs = torchattacks.PGDL2(model, **kw)
    assert _max_diff(theirs(x, y), in_chunks(theirs)) > 1e-4  # the documented difference


# ---------------------------------------------------------------- properties
@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.5)])
def test_pgd_stays_in_the_ball_and_the_box(cnn, batch, norm, eps):
    x, y = batch
    x_adv = pgd(cnn, x, y, eps=eps, alpha=eps / 4, steps=10, norm=norm,
                generator=torch.Generator().manual_seed(0))
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    delta = (x_adv - x).flatten(1)
    size = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
    assert size.max() <= eps + 1e-5


def test_fgsm_moves_every_pixel_by_eps_or_to_the_box(cnn, batch):
    x, y = batch
    x_adv = fgsm(cnn, x, y, 0.1)
    moved = (x_adv - x).abs()
    at_box = (x_adv == 0) | (x_adv == 1)
    assert torch.all(((moved - 0.1).abs() < 1e-6) | at_box | (moved == 0))


@pytest.mark.parametrize("attack", [
    lambda m, x, y: fgsm(m, x, y, 0.2),
    lambda m, x, y: pgd(m, x, y, 0.2, 0.02, 10, random_start=False),
    lambda m, x, y: pgd(m, x, y, 2.0, 0.2, 10, norm="l2", random_start=False),
], ids=["fgsm", "pgd-linf", "pgd-l2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_results_do_not_depend_on_batch_size(cnn, batch, attack, dtype):
    model = cnn if dtype == torch.float32 else load_pretrained("mnist-cnn").double()
    x, y = batch[0][:48].to(dtype), batch[1][:48]
    whole = attack(model, x, y)
    assert whole.dtype == dtype
    parts = torch.cat([attack(model, xc, yc) for xc, yc in zip(x.split(16), y.split(16))])
    assert _max_diff(whole, parts) <= 1e-6


def test_float64_attack_works_and_agrees_with_float32(cnn, batch):
    x, y = batch
    a = fgsm(cnn, x, y, 0.2)
    b = fgsm(load_pretrained("mnist-cnn").double(), x.double(), y, 0.2)
    assert b.dtype == torch.float64 and 0 <= b.min() and b.max() <= 1
    # Where the softmax saturates, float32 rounds the CE gradient to noise, so pixel signs
    # differ between precisions; what the attack achieves must not.
    with torch.no_grad():
        same = (cnn(a).argmax(1) == cnn(b.float()).argmax(1)).float().mean()
    assert same >= 0.9


def test_eps_zero_returns_x(cnn, batch):
    x, y = batch
    assert torch.equal(fgsm(cnn, x, y, 0.0), x)
    assert torch.equal(pgd(cnn, x, y, 0.0, 0.01, 3), x)


def test_random_start_is_seeded_by_the_generator(cnn, batch):
    x, y = batch[0][:16], batch[1][:16]
    a = pgd(cnn, x, y, 0.2, 0.05, 3, generator=torch.Generator().manual_seed(1))
    b = pgd(cnn, x, y, 0.2, 0.05, 3, generator=torch.Generator().manual_seed(1))
    c = pgd(cnn, x, y, 0.2, 0.05, 3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_restarts_keep_the_worst_case_per_example(cnn, batch):
    x, y = batch[0][:64], batch[1][:64]
    kw = dict(eps=0.08, alpha=0.02, steps=4)
    g = torch.Generator().manual_seed(3)
    runs = [pgd(cnn, x, y, generator=g, **kw) for _ in range(3)]  # the same three draws
    best = pgd(cnn, x, y, restarts=3, generator=torch.Generator().manual_seed(3), **kw)
    with torch.no_grad():
        def score(z):
            logits = cnn(z)
            return (logits.argmax(1) != y).float() * 1e6 + \
                torch.nn.functional.cross_entropy(logits, y, reduction="none")
        scores = torch.stack([score(r) for r in runs])   # (3, N)
        assert torch.allclose(score(best), scores.max(0).values, atol=1e-4)
        fooled = torch.stack([cnn(r).argmax(1) != y for r in runs]).any(0)
        assert torch.equal(cnn(best).argmax(1) != y, fooled)


def test_restarts_need_random_start(cnn, batch):
    with pytest.raises(ValueError, match="random_start"):
        pgd(cnn, *batch, 0.1, 0.01, 2, random_start=False, restarts=2)


# ---------------------------------------------------------------- strength on mnist-cnn
@pytest.mark.slow
def test_pgd40_eps03_leaves_under_one_percent_accuracy(cnn):
    x, y = mnist("test").tensors(500)
    x_adv = pgd(cnn, x, y, eps=0.3, alpha=0.01, steps=40, random_start=False)
    acc = accuracy(cnn, x_adv, y)
    assert acc < 0.01, f"PGD-40 (ε = 0.3) leaves {acc:.1%} accuracy on 500 test digits"


@pytest.mark.slow
def test_targeted_pgd_succeeds_on_99_percent(cnn):
    x, y = mnist("test").tensors(1000)
    x, y = x[-300:], y[-300:]
    target = (y + 1) % 10
    x_adv = pgd(cnn, x, target, eps=0.3, alpha=0.01, steps=40, random_start=False, targeted=True)
    hit = accuracy(cnn, x_adv, target)
    assert hit >= 0.99, f"targeted PGD-40 (ε = 0.3) reaches its target on {hit:.1%}"


def test_linf_projection_is_the_nearest_point_of_ball_and_box():
    """Π(x') for the L∞ ball ∩ [0, 1]^d: every pixel clipped to [max(0, x − ε), min(1, x + ε)],
    and x' itself when it already lies inside (idempotent)."""
    from coursekit.attacks._common import project_linf
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 28, 28, generator=g)
    x_far = x + 2 * torch.randn(x.shape, generator=g)
    x_before = x_far.clone()
    got = project_linf(x_far, x, 0.1)
    lower, upper = (x - 0.1).clamp(min=0), (x + 0.1).clamp(max=1)
    assert torch.equal(got, torch.minimum(torch.maximum(x_far, lower), upper))
    assert torch.equal(project_linf(got, x, 0.1), got) and torch.equal(x_far, x_before)
