"""The recipes tried for the course's robust model, measured the same way, on held-out digits.

    python -m tools.robust_recipes                 # every candidate -> data/results/robust_recipes.json
    python -m tools.robust_recipes trades-small    # one of them

Each candidate trains on the first 59,000 MNIST training digits, on one thread, and is judged
on the last 1,000, which it never sees (the test set plays no part in the choice): clean
accuracy, PGD-50 (α = 0.01, one start), and AutoAttack at ε = 0.3 (APGD-CE, APGD-T with 9
targets, Square with 5,000 queries, standard budgets), with the share of digits that Square
alone broke. The file records each candidate's recipe, architecture, per-epoch held-out
curve, training time (wall and CPU), the machine's load, and these figures; a candidate
already in the file is not run again. Trained weights go to .coursekit_cache/robust_recipes/.

The candidates change one or two things at a time from the PGD-training recipe of
``mnist-cnn-pgd`` (PGD-10, α = 2.5ε/10, ε ramped over 20% of training, Adam one-cycle 5e-3,
batches of 100): the loss (TRADES, Zhang et al. 2019), the width of the network, the number of
epochs, the training ε, where the inner attack starts, the activation function.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from dataclasses import asdict
from pathlib import Path

import torch

from coursekit.attacks import autoattack
from coursekit.config import ROOT, threads
from coursekit.data import mnist
from coursekit.defenses.adversarial import AdvRecipe, robust_accuracy
from coursekit.defenses.robust_model import recipe_record_path as default_path, train_defended
from coursekit.models.pretrained import load_checkpoint, save_checkpoint

COMMAND = "python -m tools.robust_recipes"
N_VAL, EPS = 1000, 0.3
SMALL, WIDE = {}, {"c1": 32, "c2": 64, "hidden": 128}
_PGD = dict(attack="pgd", eps=0.3, alpha=0.075, steps=10, eps_ramp=0.2, epochs=10, lr=5e-3,
            batch_size=100)
_TRADES = {**_PGD, "attack": "trades", "loss": "trades", "lam": 6.0}


# name -> (architecture arguments of "mnist-cnn-small", recipe)
CANDIDATES = {
    "trades-wide-12": (WIDE, AdvRecipe(**{**_TRADES, "epochs": 12})),
    "pgd-wide-12": (WIDE, AdvRecipe(**{**_PGD, "epochs": 12})),
    "pgd-small": (SMALL, AdvRecipe(**_PGD)),                       # mnist-cnn-pgd's recipe
    "trades-small-15": (SMALL, AdvRecipe(**{**_TRADES, "epochs": 15})),
    # against the digits only Square breaks: a longer fit, and a margin beyond the tested ε
    "trades-wide-16": (WIDE, AdvRecipe(**{**_TRADES, "epochs": 16})),
    "trades-wide-12-eps0.35": (WIDE, AdvRecipe(**{**_TRADES, "epochs": 12, "eps": 0.35, "alpha": 0.0875})),
    # the inner maximisation started where Square searches (a corner of the ball), or inside it
    "trades-wide-16-vertex": (WIDE, AdvRecipe(**{**_TRADES, "epochs": 16, "attack": "trades-vertex"})),
    "trades-wide-16-uniform": (WIDE, AdvRecipe(**{**_TRADES, "epochs": 16, "attack": "trades-uniform"})),
    # smooth activations, whose gradients the training attack and the gradient attacks can follow
    "trades-wide-16-silu": ({**WIDE, "activation": "silu"}, AdvRecipe(**{**_TRADES, "epochs": 16})),
    "trades-wide-16-elu": ({**WIDE, "activation": "elu"}, AdvRecipe(**{**_TRADES, "epochs": 16})),
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def held_out_figures(model, seed: int = 0) -> dict:
    """Clean, PGD-50 and AutoAttack accuracy on the last N_VAL training digits."""
    x, y = mnist("train").tensors()
    x, y = x[-N_VAL:], y[-N_VAL:]
    tick, cpu = time.perf_counter(), _cpu()
    aa = autoattack(model, x, y, EPS, seed=seed)
    return {
        "clean": aa.clean_accuracy,
        "pgd50": robust_accuracy(model, x, y, EPS, steps=50, alpha=0.01, restarts=1, seed=seed),
        "autoattack": aa.robust_accuracy,
        "after": {r["attack"]: r["robust_accuracy"] for r in aa.report},
        "square_only": aa.broken_by.count("square") / len(y),
        "broken_by": aa.broken_by,
        "eval_seconds": round(time.perf_counter() - tick, 1), "eval_cpu_seconds": round(_cpu() - cpu, 1),
    }


def run_candidate(name: str, seed: int = 0) -> dict:
    kwargs, recipe = CANDIDATES[name]
    cache = ROOT / ".coursekit_cache" / "robust_recipes" / f"{name}.pt"
    entry = {"arch": "mnist-cnn-small", "arch_kwargs": kwargs, "recipe": asdict(recipe),
             "load_average": [round(os.getloadavg()[0], 2)]}
    tick, cpu = time.perf_counter(), _cpu()
    run = train_defended(recipe, arch="mnist-cnn-small", arch_kwargs=kwargs, n_val=N_VAL, seed=seed,
                         eval_eps=EPS, progress=False)
    entry.update(train_seconds=round(time.perf_counter() - tick, 1),
                 train_cpu_seconds=round(_cpu() - cpu, 1),
                 history=[{k: round(v, 4) if isinstance(v, float) else v for k, v in h.items()}
                          for h in run.history])
    cache.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(run.model, "mnist-cnn-small", kwargs, cache)
    entry["held_out"] = held_out_figures(load_checkpoint(cache), seed)
    entry["load_average"].append(round(os.getloadavg()[0], 2))
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--out", type=Path, default=None, help=f"default: {default_path()}")
    args = parser.parse_args(argv)
    out = args.out or default_path()
    results = json.loads(out.read_text()) if out.is_file() else {"candidates": {}}
    results.update(command=COMMAND, n_val=N_VAL, eps=EPS, machine={
        "torch": torch.__version__, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "torch_threads": 1})
    with threads(1):
        for name in args.names:
            if name in results["candidates"]:
                continue
            results["candidates"][name] = run_candidate(name)
            h = results["candidates"][name]["held_out"]
            print(f"{name}: clean {h['clean']:.2%}, PGD-50 {h['pgd50']:.2%}, AutoAttack "
                  f"{h['autoattack']:.2%}, Square alone {h['square_only']:.2%}", flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
