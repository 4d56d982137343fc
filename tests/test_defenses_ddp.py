"""The DDP-ready entry point ``coursekit.defenses.train``: torchrun with 2 CPU processes (gloo)
ends with identical weights on both ranks; plain ``python -m`` trains as one process."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import coursekit as ck
import coursekit.defenses.train as entry
from coursekit.models import build, load_checkpoint

TINY = ["--n-train", "256", "--n-val", "64", "--epochs", "1", "--batch-size", "64",
        "--eval-steps", "2", "--threads", "1", "--no-progress"]


def _env():
    env = {k: v for k, v in os.environ.items()
           if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ck.ROOT))
    return env


@pytest.fixture
def no_torchrun_env(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)


def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    """torchrun --nproc_per_node=2 on CPU: each rank trains on its own half of the digits, DDP
    averages the gradients, so the ranks' weights (and, after the final broadcast, their
    batch-norm statistics) must agree exactly. "mnist-cnn" has batch norm and dropout, the
    harder case; without gradient averaging the two shards would give different weights."""
    out = tmp_path / "ddp.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "coursekit.defenses.train", "--arch", "mnist-cnn", *TINY,
           "--out", str(out), "--save-every-rank"]
    done = subprocess.run(cmd, cwd=ck.ROOT, env=_env(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"ddp.rank{r}.pt", weights_only=True)["state_dict"] for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    differ = [k for k in ranks[0] if not torch.equal(ranks[0][k], ranks[1][k])]
    assert not differ, f"ranks disagree on {differ}"
    ck.seed_all(0)
    init = build("mnist-cnn").state_dict()                 # the weights both ranks started from
    assert any(not torch.equal(init[k], ranks[0][k]) for k in init), "nothing was trained"
    model = load_checkpoint(out, arch="mnist-cnn")          # rank 0's file is a normal checkpoint
    assert all(torch.equal(v, ranks[0][k]) for k, v in model.state_dict().items())
    meta = out.with_suffix(".json").read_text()
    assert '"world_size": 2' in meta and '"batch_size": 64' in meta
    assert '"pgd_acc"' in done.stdout                      # rank 0 printed its epoch record


def test_single_process_without_torchrun(tmp_path, no_torchrun_env):
    with ck.threads(1):
        history = entry.main(["--arch", "mnist-cnn-small", *TINY, "--out", str(tmp_path / "one.pt")])
    assert len(history) == 1 and {"clean_acc", "fgsm_acc", "pgd_acc"} <= set(history[0])
    assert history[0]["steps"] == 4                          # 256 digits / batch 64
    load_checkpoint(tmp_path / "one.pt", arch="mnist-cnn-small")


def test_help_explains_both_launches():
    done = subprocess.run([sys.executable, "-m", "coursekit.defenses.train", "--help"], cwd=ck.ROOT,
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "torchrun --nproc_per_node=2 -m coursekit.defenses.train" in done.stdout
    assert "gloo" in done.stdout and "--recipe" in done.stdout


def test_bad_arguments_fail_clearly(no_torchrun_env, monkeypatch):
    with pytest.raises(ValueError, match="--n-train must be in 1..59936, got 0"):
        entry.main(["--n-train", "0", "--n-val", "64"])
    with pytest.raises(ValueError, match="steps must be an int > 0, got 0"):
        entry.main(["--steps", "0"])
    with pytest.raises(SystemExit):                          # argparse: unknown recipe
        entry.main(["--recipe", "free"])
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"--batch-size \(63\) must be a multiple of the number "
                                         r"of processes \(2\)"):
        entry.main(["--batch-size", "63"])


def test_shards_are_equal_and_disjoint():
    x, y = torch.arange(11).float().view(11, 1, 1, 1), torch.arange(11)
    parts = [entry.shard(x, y, r, 3)[1] for r in range(3)]
    assert [len(p) for p in parts] == [3, 3, 3]
    assert sorted(torch.cat(parts).tolist()) == list(range(9))
