"""coursekit.attacks.survey: the controls and counters of notebook 01, and its stored results."""
import math

import pytest
import torch

from coursekit.attacks import survey
from coursekit.data import mnist


def test_random_sign_noise_moves_every_pixel_by_eps_unless_clipped():
    x = torch.full((3, 1, 4, 4), 0.5)
    noise = survey.random_sign_noise(x, 0.2, torch.Generator().manual_seed(0))
    assert torch.allclose((noise - x).abs(), torch.full_like(x, 0.2))
    assert 0.3 < (noise > x).float().mean() < 0.7                       # both signs drawn
    edge = survey.random_sign_noise(torch.zeros(2, 1, 3, 3), 0.2, torch.Generator().manual_seed(0))
    assert torch.allclose(edge.unique(), torch.tensor([0.0, 0.2]))       # −0.2 clipped to 0


def test_consistent_uses_the_standard_error_of_two_proportions():
    # 0.5 on 100 vs 0.5 on 10,000: SE = sqrt(0.25 (1/100 + 1/10000)) = 0.0502; 3 SE + 0.03 = 0.181
    assert survey.consistent(0.68, 100, 0.5, 10_000) and not survey.consistent(0.69, 100, 0.5, 10_000)
    assert survey.consistent(1.0, 50, 1.0, 1000)                          # identical extremes
    assert not survey.consistent(0.0, 1000, 0.2, 1000)


def test_gradient_counter_counts_backward_passes_per_image(cnn):
    counter = survey.GradientCounter(cnn)
    x = torch.rand(5, 1, 28, 28).requires_grad_(True)
    logits = counter(x)
    torch.autograd.grad(logits[:, 0].sum(), x, retain_graph=True)
    torch.autograd.grad(logits[:, 1].sum(), x)
    assert counter.forwards == 5 and counter.backwards == 10


def test_pgd_alpha_is_madrys_rule():
    assert survey.pgd_alpha(0.3, 40) == pytest.approx(0.01 * 1.875)
    assert survey.pgd_alpha(0.2, 10) == pytest.approx(0.05)


def test_accuracy_curves_on_a_few_digits(cnn):
    x, y = mnist("test").tensors(12)
    c = survey.accuracy_curves(cnn, x, y, [0.0, 0.3], steps=5)
    assert c["noise"][0] == c["FGSM"][0] == c["PGD"][0]                 # ε = 0: the clean accuracy
    assert c["PGD"][1] <= c["FGSM"][1] + 1 / 12


# --- the stored full-size run (data/results/attacks_survey.json) -------------------------------

@pytest.fixture(scope="module")
def stored():
    return survey.load_results()


def test_stored_run_is_complete_and_says_how_it_was_made(stored):
    assert stored["complete"] and stored["command"] == survey.COMMAND
    assert set(stored["experiments"]) == set(survey.experiments(survey.FULL, {n: None for n in survey.MODELS},
                                                                 torch.zeros(1), torch.zeros(1)))
    assert stored["versions"]["torch"] and stored["cpu_seconds_total"] > 0
    assert stored["config"]["n_curve"] == survey.FULL.n_curve


def test_stored_curves_keep_their_order(stored):
    # properties a new library version must keep: PGD at least as strong as FGSM, both at least
    # as strong as noise; noise harmless on mnist-lenet, not on mnist-cnn at ε = 0.1
    for name, c in stored["experiments"]["curves"].items():
        assert all(p <= f + 0.01 for p, f in zip(c["PGD"], c["FGSM"])), name
        assert all(p <= n for p, n in zip(c["PGD"], c["noise"])), name
    curves = stored["experiments"]["curves"]
    assert min(curves["mnist-lenet"]["noise"]) > 0.95
    assert curves["mnist-cnn"]["noise"][curves["mnist-cnn"]["eps"].index(0.1)] < 0.7


def test_stored_transfer_into_mnist_cnn_is_its_noise_fragility(stored):
    t = stored["experiments"]["transfer"]["0.2"]
    rates = t["rates"]["PGD-40"]
    assert all(abs(rates[i][0] - t["noise_error"]["mnist-cnn"]) < 0.05 for i in (1, 2))
    assert rates[1][2] > t["noise_error"]["mnist-mlp"] + 0.05 and rates[2][1] > t["noise_error"]["mnist-lenet"] + 0.05


def test_stored_floats_are_finite(stored):
    def walk(v):
        if isinstance(v, dict):
            return all(walk(w) for w in v.values())
        if isinstance(v, list):
            return all(walk(w) for w in v)
        return not isinstance(v, float) or math.isfinite(v)
    assert walk(stored["experiments"])
