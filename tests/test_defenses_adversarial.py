"""Adversarial training (coursekit.defenses.adversarial): contracts, the inner attack's
eval mode, the losses against their formulas, and the static-set claim of the lecture."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

import coursekit as ck
from coursekit.attacks import fgsm, pgd
from coursekit.data import mnist
from coursekit.defenses.adversarial import (RECIPES, AdvRecipe, accuracy_under_attack,
                                            adversarial_loss, adversarial_training, fast_fgsm,
                                            inner_attack, robust_accuracy)
from coursekit.models import build
from coursekit.train import accuracy


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def digits(test_set):
    x, y = test_set
    return x[:64], y[:64]


def bn_model(seed=0):
    """A fresh "mnist-cnn" (batch norm and dropout) in train mode, with non-trivial BN stats."""
    ck.seed_all(seed)
    model = build("mnist-cnn").train()
    with torch.no_grad():
        model(torch.rand(32, 1, 28, 28))
    return model


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


# ---- contracts -----------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("attack", "bim", "attack must be one of"),
    ("loss", "kl", "loss must be one of"),
    ("eps", -0.1, "eps must be a number >= 0, got -0.1"),
    ("eps", 1.5, "eps must be <= 1"),
    ("alpha", 0.0, "alpha must be a number > 0, got 0.0"),
    ("steps", 0, "steps must be an int > 0, got 0"),
    ("steps", 2.5, "steps must be an int > 0, got 2.5"),
    ("lam", -1.0, "lam must be a number >= 0"),
    ("eps_ramp", 1.5, "eps_ramp must be a share of training in [0, 1], got 1.5"),
    ("epochs", 0, "epochs must be an int > 0"),
    ("batch_size", -3, "batch_size must be an int > 0"),
])
def test_recipe_rejects_bad_values_and_says_what_it_got(field, value, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        AdvRecipe(**{field: value})


def test_training_rejects_bad_arguments():
    with pytest.raises(TypeError, match="recipe must be an AdvRecipe"):
        adversarial_training(build("mnist-cnn-small"), torch.rand(4, 1, 28, 28),
                             torch.zeros(4, dtype=torch.long), recipe="fast")
    with pytest.raises(ValueError, match="give both x_val and y_val"):
        adversarial_training(build("mnist-cnn-small"), torch.rand(4, 1, 28, 28),
                             torch.zeros(4, dtype=torch.long), x_val=torch.rand(4, 1, 28, 28))


def test_eps_ramp_is_linear_then_flat():
    recipe = AdvRecipe(eps=0.3, eps_ramp=0.4)
    assert [recipe.eps_at(t) for t in (0.0, 0.2, 0.4, 0.9)] == pytest.approx([0.0, 0.15, 0.3, 0.3])
    assert AdvRecipe(eps=0.3).eps_at(0.0) == 0.3


# ---- the inner attack: eval mode, batch norm untouched --------------------------------------

@pytest.mark.parametrize("attack", ["fgsm", "fast", "pgd", "trades"])
def test_inner_attack_runs_in_eval_mode_and_leaves_bn_statistics_alone(attack, digits):
    x, y = digits
    model = bn_model()
    before, x_before = state(model), x.clone()
    x_adv = inner_attack(model, x, y, attack, eps=0.3, alpha=0.1, steps=3)
    after = state(model)
    assert all(torch.equal(before[k], after[k]) for k in before), "running_mean/var or weights moved"
    assert all(m.training for m in model.modules()), "train mode was not restored"
    assert all(p.grad is None for p in model.parameters()), "the attack filled a parameter's .grad"
    assert torch.equal(x, x_before)
    assert (x_adv - x).abs().max() <= 0.3 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    assert not torch.equal(x_adv, x)


def test_a_callable_inner_attack_is_run_in_eval_mode_too(digits):
    x, y = digits
    model, seen = bn_model(), []

    def spy(net, x, y, eps, alpha, steps):
        seen.append([m.training for m in net.modules()])
        net(x)                       # a forward pass here must not move batch-norm statistics
        return x + 0.0

    before = state(model)
    inner_attack(model, x, y, spy, eps=0.3, alpha=0.1, steps=1)
    assert seen and not any(any(flags) for flags in seen)
    after = state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_inner_attacks_are_the_coursekit_attacks(digits):
    x, y = digits
    model = build("mnist-cnn-small").eval()
    assert torch.equal(inner_attack(model, x, y, "fgsm", 0.3, 0.1), fgsm(model, x, y, 0.3))
    fast = inner_attack(model, x, y, "fast", 0.3, 0.375, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fast, fast_fgsm(model, x, y, 0.3, 0.375, torch.Generator().manual_seed(1)))
    steps = inner_attack(model, x, y, "pgd", 0.3, 0.1, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(steps, pgd(model, x, y, 0.3, 0.1, 3, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(inner_attack(model, x, y, "none", 0.3, 0.1), x)
    assert torch.equal(inner_attack(model, x, y, "pgd", 0.0, 0.1, steps=5), x)  # ε = 0 (ramp start)


class Whole(torch.nn.Module):
    """Hides that a model is an nn.Sequential: ART's wrapper would return every layer's output."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def test_fast_fgsm_matches_art_fast_is_better_than_free_step(digits, monkeypatch):
    """Witness: ART's AdversarialTrainerFBFPyTorch forges its training batch with the same
    update (gradient at the unclipped random start x + δ, step 1.25·ε, clip to the ball, then
    to [0, 1]). Given our random start, its training input must equal our x_adv."""
    art_fbf = pytest.importorskip("art.defences.trainer.adversarial_trainer_fbf_pytorch")
    from art.estimators.classification import PyTorchClassifier

    x, y = digits
    eps = 0.3
    model = build("mnist-cnn-small").eval()
    ours = fast_fgsm(model, x, y, eps, 1.25 * eps, torch.Generator().manual_seed(5))
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(5))
    delta = ((2 * u - 1) * eps).reshape(len(x), -1).numpy()
    monkeypatch.setattr(art_fbf, "random_sphere", lambda n, m, radius, norm: delta.copy())
    seen = []
    model.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone()))
    clf = PyTorchClassifier(Whole(model), loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 28, 28),
                            nb_classes=10, clip_values=(0.0, 1.0),
                            optimizer=torch.optim.Adam(model.parameters(), lr=0.0))
    one_hot = torch.eye(10)[y].numpy()
    art_fbf.AdversarialTrainerFBFPyTorch(clf, eps=eps)._batch_process(x.numpy(), one_hot, 0.0)
    art_x_adv = seen[-1]                 # the training forward, after the gradient forward
    assert len(seen) == 2
    assert torch.allclose(art_x_adv, ours, atol=1e-6)
    assert (x.sub(ours).abs().max() <= eps + 1e-6) and 0 <= ours.min() and ours.max() <= 1


def test_training_forward_is_in_train_mode_and_the_attack_forward_is_not(digits):
    """A forward hook on the first batch-norm layer logs each call's mode: the inner attack's
    forward (eval) and the training forward (train) alternate, and batch norm counts only the
    training batches (num_batches_tracked moves in train mode only)."""
    x, y = digits
    model = bn_model()
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    tracked = bn.num_batches_tracked.item()
    modes = []
    bn.register_forward_hook(lambda m, inp, out: modes.append(m.training))
    recipe = AdvRecipe(attack="fast", epochs=1, batch_size=16)
    adversarial_training(model, x, y, recipe, progress=False)
    assert modes == [False, True] * 4          # 64 digits / 16 = 4 steps
    assert bn.num_batches_tracked.item() - tracked == 4
    assert model.training, "a trained model is handed back in the mode it came in (train)"


def test_keep_best_restores_the_epoch_with_the_best_held_out_pgd_accuracy(digits):
    x, y = digits
    model, snapshots = build("mnist-cnn-small"), {}
    recipe = AdvRecipe(attack="fast", epochs=3, batch_size=16)

    def snapshot(record):
        snapshots[record["epoch"]] = state(model)
    history = adversarial_training(model, x, y, recipe, x_val=x[:32], y_val=y[:32], eval_steps=2,
                                   progress=False, keep_best=True, on_epoch_end=snapshot)
    (kept,) = [r for r in history if r["kept"]]
    best = max(r["pgd_acc"] for r in history)
    assert kept["pgd_acc"] == best and all(r["pgd_acc"] < best for r in history
                                           if r["epoch"] > kept["epoch"])
    assert all(torch.equal(v, snapshots[kept["epoch"]][k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="keep_best needs a held-out batch"):
        adversarial_training(model, x, y, recipe, keep_best=True)


# ---- the losses against their formulas ------------------------------------------------------

def test_losses_match_their_formulas(digits):
    x, y = digits
    model = build("mnist-cnn-small")           # no batch norm, so one pass equals two
    x_adv = fgsm(model, x, y, 0.3)
    z, z_adv = model(x), model(x_adv)
    clean, adv = F.cross_entropy(z, y), F.cross_entropy(z_adv, y)
    loss, logits = adversarial_loss(model, x, x_adv, y, "adv")
    assert loss.item() == pytest.approx(adv.item(), rel=1e-5) and torch.allclose(logits, z_adv, atol=1e-5)
    loss, _ = adversarial_loss(model, x, x_adv, y, "mixed", lam=0.7)   # L(x) + λ·L(x_adv), the lecture
    assert loss.item() == pytest.approx((clean + 0.7 * adv).item(), rel=1e-5)
    loss, _ = adversarial_loss(model, x, x_adv, y, "alp", lam=0.5)     # Kannan et al. 2018
    pairing = ((z - z_adv) ** 2).sum(1).mean()
    assert loss.item() == pytest.approx(((clean + adv) / 2 + 0.5 * pairing).item(), rel=1e-5)
    loss, _ = adversarial_loss(model, x, x, y, "alp", lam=3.0)         # x_adv = x: no pairing term
    assert loss.item() == pytest.approx(clean.item(), rel=1e-5)
    loss, _ = adversarial_loss(model, x, x_adv, y, "trades", lam=6.0)  # Zhang et al. 2019, eq. 5
    p, log_p_adv = F.softmax(z, 1), F.log_softmax(z_adv, 1)
    kl = (p * (p.log() - log_p_adv)).sum(1).mean()                    # KL(f(x) ‖ f(x_adv)), per digit
    assert loss.item() == pytest.approx((clean + 6.0 * kl).item(), rel=1e-5)
    loss, _ = adversarial_loss(model, x, x, y, "trades", lam=6.0)      # x_adv = x: no KL term
    assert loss.item() == pytest.approx(clean.item(), rel=1e-5)


def test_the_trades_attack_climbs_the_kl_divergence_without_the_label(digits):
    """Zhang et al. 2019, Algorithm 1: from x + 0.001·N(0, I), signed steps up KL(f(x) ‖ f(x'));
    the label plays no part (two different label sets give the same x'), and the divergence
    it reaches is far above that of the small random start or of a random point of the ball."""
    x, y = digits
    model = build("mnist-cnn-small").eval()
    g = lambda: torch.Generator().manual_seed(3)                       # noqa: E731
    x_adv = inner_attack(model, x, y, "trades", 0.3, 0.075, 10, generator=g())
    assert torch.equal(x_adv, inner_attack(model, x, (y + 1) % 10, "trades", 0.3, 0.075, 10,
                                           generator=g()))
    with torch.no_grad():
        p = F.softmax(model(x), 1)
        kl = lambda x2: F.kl_div(F.log_softmax(model(x2), 1), p, reduction="none").sum(1)  # noqa: E731
        start = (x + 0.001 * torch.randn(x.shape, generator=g())).clamp(0, 1)
        random = (x + 0.3 * (2 * torch.rand(x.shape, generator=g()) - 1)).clamp(0, 1)
        assert kl(x_adv).mean() > 10 * kl(random).mean() and kl(x_adv).mean() > 100 * kl(start).mean()


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_trains_a_step_and_returns_its_history(name, digits):
    x, y = digits
    model = build("mnist-cnn-small")
    before = state(model)
    recipe = replace(RECIPES[name], epochs=1, batch_size=32, steps=min(RECIPES[name].steps, 2))
    history = adversarial_training(model, x, y, recipe, x_val=x[:16], y_val=y[:16],
                                   eval_steps=2, progress=False)
    (record,) = history
    assert set(record) >= {"epoch", "loss", "train_acc", "eps", "seconds", "steps",
                           "clean_acc", "fgsm_acc", "pgd_acc"}
    assert record["steps"] == 2 and record["seconds"] > 0
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


# ---- evaluation -----------------------------------------------------------------------------

def test_robust_accuracy_is_repeatable_bounded_and_restarts_only_help_the_attacker(cnn, test_set):
    x, y = test_set[0][:100], test_set[1][:100]
    clean = accuracy(cnn, x, y)
    assert robust_accuracy(cnn, x, y, eps=0.0, steps=2, restarts=1) == pytest.approx(clean)
    one = robust_accuracy(cnn, x, y, eps=0.1, steps=5, alpha=0.02, restarts=1, seed=3)
    assert one == robust_accuracy(cnn, x, y, eps=0.1, steps=5, alpha=0.02, restarts=1, seed=3)
    three = robust_accuracy(cnn, x, y, eps=0.1, steps=5, alpha=0.02, restarts=3, seed=3)
    assert three <= one <= clean
    assert not cnn.training


def test_accuracy_under_attack_counts_what_the_attack_returns(cnn, test_set):
    x, y = test_set[0][:50], test_set[1][:50]
    assert accuracy_under_attack(cnn, x, y, lambda m, a, b: a, batch_size=16) == \
        pytest.approx(accuracy(cnn, x, y))


def test_trades_attack_starts_where_asked_and_rejects_an_unknown_start():
    from coursekit.defenses.adversarial import trades_attack
    model = build("mnist-cnn-small").eval()
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 0.4 + 0.3  # no clipping
    for start, moved in (("gaussian", lambda d: d.abs().max() < 0.01),
                         ("vertex", lambda d: torch.allclose(d.abs(), torch.full_like(d, 0.3))),
                         ("uniform", lambda d: d.abs().max() <= 0.3 + 1e-6 and d.abs().min() < 0.1)):
        # steps of size ~0 leave x' at its start: the start itself is what is checked
        x_adv = trades_attack(model, x, 0.3, 1e-9, 1, torch.Generator().manual_seed(1), start=start)
        assert moved(x_adv - x), f"start={start!r} did not start where its docstring says"
    with pytest.raises(ValueError, match="start must be one of"):
        trades_attack(model, x, 0.3, 0.1, 1, start="corner")


def test_a_recipe_names_the_start_of_its_trades_attack():
    """AdvRecipe(attack="trades-uniform" | "trades-vertex") trains on TRADES' inner attack from that
    start (the shipped mnist-cnn-trades uses "trades-uniform"); "trades" keeps Zhang et al.'s."""
    from coursekit.defenses.adversarial import AdvRecipe, inner_attack, trades_attack
    model = build("mnist-cnn-small").eval()
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(8, dtype=torch.long)
    for attack, start in (("trades", "gaussian"), ("trades-uniform", "uniform"), ("trades-vertex", "vertex")):
        AdvRecipe(attack=attack, loss="trades", steps=2, alpha=0.1)               # a valid recipe
        got = inner_attack(model, x, y, attack, 0.3, 0.1, 2, torch.Generator().manual_seed(3))
        want = trades_attack(model, x, 0.3, 0.1, 2, torch.Generator().manual_seed(3), start=start)
        assert torch.equal(got, want), f"attack={attack!r} should start from {start!r}"
    with pytest.raises(ValueError, match="attack must be one of"):
        AdvRecipe(attack="trades-corner")
