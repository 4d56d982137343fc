"""The shipped "mnist-cnn-robust" (fast adversarial training, ε = 0.3): what its manifest
claims, measured again where it is cheap, and its robustness next to "mnist-cnn"."""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

import coursekit as ck
from coursekit.defenses.adversarial import robust_accuracy
from coursekit.defenses.robust_model import train_defended
from coursekit.models import load_pretrained
from coursekit.models.pretrained import read_manifest
from coursekit.pretrain import ROBUST_RECIPES, main as pretrain_main
from coursekit.train import accuracy

NAME, EPS = "mnist-cnn-robust", 0.3


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def robust():
    return load_pretrained(NAME)


@pytest.fixture(scope="module")
def metrics():
    return read_manifest()[NAME]["metrics"]


def test_manifest_records_the_acceptance_figures(metrics):
    """Issue 5's bar, as recorded by `python -m coursekit.pretrain mnist-cnn-robust` on the full
    test set: clean ≥ 98%, PGD-50 with 10 restarts (α = 0.01) ≥ 88% at ε = 0.3 (Wong et al. 2020
    report 88.77% for fast training, Madry et al. 2018 89.3% for PGD), under 30 minutes."""
    assert metrics["pgd_eval"] == {**metrics["pgd_eval"], "eps": EPS, "steps": 50, "alpha": 0.01,
                                   "restarts": 10, "n_test": 10_000}
    assert metrics["test_accuracy"] >= 0.98
    assert metrics["pgd50x10_accuracy"] >= 0.88
    assert metrics["train_seconds"] < 30 * 60
    curve = metrics["robust_curve"]
    assert [row[0] for row in curve] == list(range(1, metrics["recipe"]["epochs"] + 1))
    assert curve[metrics["kept_epoch"] - 1][4] == max(row[4] for row in curve)  # early stopping
    assert metrics["recipe"]["attack"] == "fast"         # FGSM from a random start (trained at 0.35)


def test_clean_accuracy_is_reproduced_on_the_full_test_set(robust, metrics, test_set):
    assert accuracy(robust, *test_set) == pytest.approx(metrics["test_accuracy"], abs=1e-4)


def test_pgd_accuracy_is_reproduced_on_the_first_500_digits(robust, metrics, test_set):
    """PGD-50 (α = 0.01, one seeded random start) on the first 500 test digits, exactly as the
    recipe measured it; ±0.4% (2 digits) allows for floating-point sums that differ between
    machines and thread counts. The recorded 10-restart figure on the same digits can only be
    lower: restarts only help the attacker, and its first restart is this very run."""
    x, y = test_set[0][:500], test_set[1][:500]
    got = robust_accuracy(robust, x, y, EPS, steps=50, alpha=0.01, restarts=1, seed=0)
    assert got == pytest.approx(metrics["pgd50x1_accuracy_first500"], abs=0.004)
    assert metrics["pgd50x10_accuracy_first500"] <= metrics["pgd50x1_accuracy_first500"]


def test_a_reference_pgd_agrees(robust, metrics, test_set):
    """Witness: torchattacks' PGD (same ε, α, 50 steps, its own random start) on the same 500
    digits finds about the same accuracy as our one-start PGD (within 2%, 10 digits)."""
    torchattacks = pytest.importorskip("torchattacks")
    x, y = test_set[0][:500], test_set[1][:500]
    torch.manual_seed(0)
    x_adv = torchattacks.PGD(robust, eps=EPS, alpha=0.01, steps=50, random_start=True)(x, y)
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    assert accuracy(robust, x_adv, y) == pytest.approx(metrics["pgd50x1_accuracy_first500"], abs=0.02)


def test_robust_model_really_is_robust_where_mnist_cnn_is_not(robust, cnn, test_set):
    """Against the standard "mnist-cnn", PGD-20 at ε = 0.3 takes nearly every digit; the robust
    model keeps most of them (Madry et al. 2018 Fig. 1's contrast, on 200 test digits)."""
    x, y = test_set[0][:200], test_set[1][:200]
    kwargs = dict(eps=EPS, steps=20, alpha=2.5 * EPS / 20, restarts=1, seed=0)
    standard, defended = robust_accuracy(cnn, x, y, **kwargs), robust_accuracy(robust, x, y, **kwargs)
    assert standard <= 0.05, standard
    assert defended >= 0.80, defended


def test_shipped_file_is_small_and_the_recipe_rebuilds_it_in_quick_mode(tmp_path):
    entry = read_manifest()[NAME]
    assert (ck.pretrained_dir() / entry["file"]).stat().st_size < 5_000_000
    arch, kwargs, recipe, _ = ROBUST_RECIPES[NAME]
    assert (entry["arch"], entry["kwargs"]) == (arch, kwargs)
    assert entry["metrics"]["recipe"] == asdict(recipe), "the shipped file is not this recipe's"
    pretrain_main([NAME, "--quick", "--out", str(tmp_path)])
    quick = json.loads((tmp_path / "manifest.json").read_text())[NAME]["metrics"]
    assert quick["pgd_eval"]["n_test"] == 50 and len(quick["robust_curve"]) == 1


def test_train_defended_rejects_bad_arguments():
    with pytest.raises(ValueError, match="recipe must be one of .*'fast'.*got 'fastest'"):
        train_defended("fastest")
    with pytest.raises(ValueError, match="n_train must be an int in 1..59500, got 0"):
        train_defended("fast", n_train=0)
