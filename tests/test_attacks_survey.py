"""coursekit.attacks.survey: the controls and counters of notebook 01, and its stored results."""
import json
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


# --- the command line -----------------------------------------------------------------------

def test_python_dash_m_runs_the_command_line():
    # `python -m coursekit.attacks.survey` (the package's __main__.py) is the stored command
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "coursekit.attacks.survey", "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {survey.COMMAND}")
    assert all(flag in done.stdout for flag in ("--quick", "--out", "--only", "--merge"))
    assert "Notebook 01's experiments at full size" in done.stdout   # the package docstring


def test_merge_collects_the_experiments_of_parallel_runs(tmp_path):
    part = {"command": survey.COMMAND, "config": {"n_curve": 3}, "versions": {}, "machine": {}}
    (tmp_path / "a.json").write_text(json.dumps({**part, "experiments": {"curves": {"x": 0.123456789}},
                                                 "seconds": {"curves": 2.0}, "cpu_seconds": {"curves": 1.5}}))
    (tmp_path / "b.json").write_text(json.dumps({**part, "experiments": {"jsma": {"n": 4}},
                                                 "seconds": {"jsma": 3.0}, "cpu_seconds": {"jsma": 2.5}}))
    merged = survey.merge_results([tmp_path / "a.json", tmp_path / "b.json"], tmp_path / "all.json")
    saved = json.loads((tmp_path / "all.json").read_text())
    assert set(saved["experiments"]) == {"curves", "jsma"} and saved["wall_seconds"] == 5.0
    assert saved["experiments"]["curves"]["x"] == 0.12346                # floats rounded when written
    assert saved["cpu_seconds_total"] == 4.0 and not merged["complete"]  # 2 of the 12 experiments
    (tmp_path / "c.json").write_text(json.dumps({**part, "config": {"n_curve": 4}}))
    with pytest.raises(ValueError, match="another configuration"):
        survey.merge_results([tmp_path / "a.json", tmp_path / "c.json"], tmp_path / "x.json")
