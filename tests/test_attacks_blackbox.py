"""Black-box attacks: gradient estimates, query counting and budgets, the default step."""
import pytest
import torch
import torch.nn.functional as F

from coursekit.attacks import (QueryBudgetExceeded, QueryCounter, default_step, fd_gradient,
                               finite_difference_attack, margin_loss, spsa, spsa_gradient)
from coursekit.data import mnist


@pytest.fixture(scope="module")
def batch():
    return mnist("test").tensors(16)


def _true_gradient(model, x, y):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(margin_loss(model(x), y, False).sum(), x)
    return g


def test_query_counter_counts_images_and_enforces_its_limit(cnn, batch):
    x, _ = batch
    box = QueryCounter(cnn, limit=20)
    out = box(x)
    assert box.queries == 16 and out.shape == (16, 10) and not out.requires_grad
    with pytest.raises(QueryBudgetExceeded, match="limit of 20"):
        box(x[:5])
    assert box.queries == 16


def test_margin_loss_is_negative_exactly_on_success():
    scores = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0]])
    y = torch.tensor([0, 1])
    assert margin_loss(scores, y, False).tolist() == [2.0, -3.0]
    assert margin_loss(scores, torch.tensor([2, 2]), True).tolist() == [3.0, -3.0]


def test_finite_differences_recover_the_gradient(cnn, batch):
    # exact for a smooth function; on a ReLU network, close (kinks within h of x)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).double()
    x, y = batch[0][:2].double(), batch[1][:2]
    box = QueryCounter(model)
    est = fd_gradient(box, x, y, h=1e-4)
    assert box.queries == 2 * 2 * 784
    assert torch.allclose(est, _true_gradient(model, x, y), atol=1e-6)
    est = fd_gradient(cnn, batch[0][:2], y, h=1e-3)
    cos = F.cosine_similarity(est.flatten(1), _true_gradient(cnn, batch[0][:2], y).flatten(1))
    assert (cos > 0.8).all()


def test_finite_differences_on_chosen_pixels_only(cnn, batch):
    x, y = batch[0][:2], batch[1][:2]
    coords = torch.tensor([100, 400, 600])
    box = QueryCounter(cnn)
    est = fd_gradient(box, x, y, coords=coords)
    assert box.queries == 2 * 2 * 3
    flat = est.flatten(1)
    assert (flat[:, [i for i in range(784) if i not in coords.tolist()]] == 0).all()


def test_spsa_gradient_points_the_right_way(cnn, batch):
    x, y = batch[0][:4], batch[1][:4]
    box = QueryCounter(cnn)
    est = spsa_gradient(box, x, y, samples=256, generator=torch.Generator().manual_seed(0))
    assert box.queries == 4 * 2 * 256
    cos = F.cosine_similarity(est.flatten(1), _true_gradient(cnn, x, y).flatten(1))
    assert (cos > 0.3).all()   # 256 random directions in 784 dimensions: ~0.5 expected


@pytest.mark.parametrize("attack", ["spsa", "finite_difference"])
def test_attack_stops_at_its_query_budget(cnn, batch, attack):
    x, y = batch[0][:8], batch[1][:8]
    box = QueryCounter(cnn, limit=8 * 300)   # would raise if the attack overspent
    if attack == "spsa":
        x_adv = spsa(box, x, y, eps=0.02, max_queries=300, samples=16,
                     generator=torch.Generator().manual_seed(0))
    else:
        x_adv = finite_difference_attack(box, x, y, eps=0.02, max_queries=300, coords=30,
                                         generator=torch.Generator().manual_seed(0))
    assert box.queries <= 8 * 300
    assert box.queries >= 8 * (300 - 2 * 30 - 1)     # ε too small to fool: budget spent
    assert (x_adv - x).abs().max() <= 0.02 + 1e-6


def test_spsa_fools_with_a_few_thousand_queries_and_stops_early(cnn, batch):
    x, y = batch[0][:8], batch[1][:8]
    box = QueryCounter(cnn)
    x_adv = spsa(box, x, y, eps=0.2, alpha=0.01, max_queries=3000, samples=64,
                 generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fooled = (cnn(x_adv).argmax(1) != y).float().mean()
    # reference run on 16 digits: 94% with 1,840 queries per image on average (budget 3,000)
    assert fooled >= 0.75
    assert box.queries < 0.8 * len(x) * 3000   # fooled examples stop spending
    assert (x_adv - x).abs().max() <= 0.2 + 1e-6


def test_finite_difference_attack_reaches_white_box_strength(cnn, batch):
    x, y = batch[0][:2], batch[1][:2]
    box = QueryCounter(cnn)
    x_adv = finite_difference_attack(box, x, y, eps=0.2, alpha=0.05, max_queries=20_000)
    with torch.no_grad():
        assert (cnn(x_adv).argmax(1) != y).all()
    assert box.queries <= 2 * 20_000


def test_targeted_spsa(cnn, batch):
    x, y = batch[0][:4], batch[1][:4]
    t = (y + 1) % 10
    x_adv = spsa(cnn, x, t, eps=0.3, max_queries=6000, samples=64, targeted=True,
                 generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (cnn(x_adv).argmax(1) == t).float().mean() >= 0.75


def test_default_step_is_madrys_rule_for_the_steps_the_budget_allows():
    # 1,000 queries of SPSA with 64 samples: 129 queries a step after the first check, 7 steps
    assert default_step(0.1, 1000, 128) == pytest.approx(2.5 * 0.1 / 7)
    assert default_step(0.3, 20_000, 2 * 784) == pytest.approx(2.5 * 0.3 / 12)
    assert default_step(0.1, 50, 128) == pytest.approx(0.25)      # not even one full step: one step


def test_spsa_default_step_suits_the_course_budget(cnn, batch):
    # mnist-cnn at ε = 0.1 with 1,000 queries (7 steps): with the default step SPSA fooled 42 of
    # the first 50 test digits when measured; the former fixed step of 0.01 could move a pixel by
    # 0.07 at most in 7 steps, short of ε, and fooled 1 of 50
    x, y = batch
    x_adv = spsa(cnn, x, y, eps=0.1, max_queries=1000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fooled = (cnn(x_adv).argmax(1) != y).float().mean().item()
    assert fooled >= 0.6, f"SPSA's default step fooled {fooled:.0%} of 16 digits"
