"""coursekit.pretrain: every shipped file has one recipe, the command is deterministic, and every
recipe starts and ends through the one shared preamble (seed, quick sizes, timing, manifest)."""
import subprocess
import sys

import pytest

import coursekit.pretrain as P
from coursekit.defenses import DEFENDED_MODELS
from coursekit.models import load_checkpoint
from coursekit.models.pretrained import read_manifest, sha256
from coursekit.pretrain import main as pretrain_main
from coursekit.pretrain.preamble import Run, timed

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_pretrain_command_is_deterministic(tmp_path):
    # the same recipe and seed must give the same file, byte for byte (quick scale here;
    # the shipped files are produced by the same code path at full scale)
    pretrain_main(["mnist-mlp", "--quick", "--out", str(tmp_path / "a")])
    pretrain_main(["mnist-mlp", "--quick", "--out", str(tmp_path / "b")])
    a, b = read_manifest(tmp_path / "a")["mnist-mlp"], read_manifest(tmp_path / "b")["mnist-mlp"]
    assert a["sha256"] == b["sha256"] == sha256(tmp_path / "a" / "mnist-mlp.pt")
    assert a["command"] == "python -m coursekit.pretrain mnist-mlp"
    model = load_checkpoint(tmp_path / "a" / "mnist-mlp.pt", arch="mnist-mlp")
    assert not model.training
    # the preamble's figures, recorded by every recipe
    m = a["metrics"]
    assert {"train_seconds", "train_cpu_seconds", "threads", "cpu_count", "load_average_1min"} <= set(m)
    assert m["threads"] == 1 and m["train_cpu_seconds"] > 0 and len(m["load_average_1min"]) == 2  # ms resolution


def test_pretrain_rejects_unknown_names():
    with pytest.raises(SystemExit):
        pretrain_main(["mnist-gpt"])


def test_every_shipped_model_has_exactly_one_recipe():
    registries = (P.RECIPES, P.GAN_RECIPES, P.CERTIFIED_RECIPES, P.VARIANTS, P.ROBUST_RECIPES,
                  P.TRANSLATION_RECIPES)
    assert len(P.BUILDERS) == sum(len(r) for r in registries)  # no name in two registries
    assert set(read_manifest()) <= set(P.BUILDERS)              # every shipped file can be rebuilt
    assert list(P.BUILDERS).index("mnist-cnn") < list(P.BUILDERS).index("mnist-dcgan")
    assert list(P.BUILDERS).index("mnistm-cnn") < list(P.BUILDERS).index("mnist-cyclegan")
    assert list(P.BUILDERS).index("mnist-sr-l1") < list(P.BUILDERS).index("mnist-srgan")
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        P.pretrain("nope")


def test_defended_models_are_the_defended_recipes():
    # coursekit.defenses must not import coursekit.pretrain, so it lists the names itself
    assert DEFENDED_MODELS == (*P.ROBUST_RECIPES, *P.CERTIFIED_RECIPES, *P.VARIANTS)


def test_the_preamble_seeds_sizes_and_times():
    import torch

    Run("x", seed=3)
    first = torch.rand(2)
    quick, full = Run("x", quick=True, seed=3), Run("x", seed=3)
    assert torch.equal(torch.rand(2), first)  # a run seeds everything when it is made
    assert quick.size(None, 512) == 512 and full.size(None, 512) is None
    train = {"epochs": 6, "steps": 100, "lr": 1e-3}
    assert quick.shrink(train) == {**train, "epochs": 1} and quick.shrink(train, "steps")["steps"] == 4
    assert full.shrink(train) is train and train["epochs"] == 6  # the recipe itself is left alone
    x, y, x_test, y_test = quick.data()
    assert (len(x), len(y), len(x_test), len(y_test)) == (512, 512, 256, 256)
    with timed() as clock:
        sum(i * i for i in range(200_000))
    assert clock.wall > 0 and clock.cpu > 0


def test_the_module_runs_as_a_command():
    out = subprocess.run([sys.executable, "-m", "coursekit.pretrain", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("usage: python -m coursekit.pretrain") and "mnist-cnn-robust" in out


def test_pick_psi_takes_the_psi_nearest_1_within_one_standard_error_of_the_best():
    from coursekit.pretrain.gans import pick_psi
    # at n = 10,000 and a best worse-of-the-two of 0.82, one standard error is √(0.82·0.18/10⁴) ≈ 0.0038
    scores = {1.0: [0.86, 0.78], 1.05: [0.84, 0.80], 1.1: [0.83, 0.817], 1.15: [0.82, 0.83], 1.2: [0.81, 0.84]}
    assert pick_psi(scores, 10_000) == 1.1  # 0.817 is within 0.0038 of 0.82; 0.80 is not
    assert pick_psi({**scores, 1.1: [0.83, 0.815]}, 10_000) == 1.15  # 0.005 below: more than one error
    assert pick_psi(scores, 100_000) == 1.15  # with ten times the samples the error is 0.0012: only the best
    # nearest to 1 from either side, and the order of the dict does not matter
    mirrored = {0.9: [0.817, 0.83], 1.15: [0.82, 0.83], 1.0: [0.70, 0.95]}
    assert pick_psi(mirrored, 10_000) == 0.9
    assert pick_psi(dict(reversed(list(mirrored.items()))), 10_000) == 0.9
    with pytest.raises(ValueError, match="scores"):
        pick_psi({}, 10_000)
    with pytest.raises(ValueError, match="n must be"):
        pick_psi(scores, 0)
    with pytest.raises(ValueError, match="n must be"):
        pick_psi(scores, True)
