"""Notebook 02's defenses, built one way for the notebook and for the stored table.

Notebook 02 builds each defense in its own section and scores it on a few test digits, live.
The full table (every defense × every attack of :mod:`coursekit.defenses.scoreboard`,
AutoAttack's APGD-CE, APGD-T and Square included, on the first 500 test digits) takes longer
than a lab session; it is built by the same functions and stored, with its command, budget,
library versions and times, in ``data/results/defense_table.json``:

    python -m coursekit.defenses.lineup           # the full table (about 30 min of CPU; --n 100: 6)
    python -m coursekit.defenses.lineup --quick   # 20 digits and a small budget, printed only

Rows can be scored in parallel processes (``--sections ... --rows ... --out part1.json`` each;
every process scores mnist-cnn first, whose PGD-40 examples are the transfer attack), then
``--merge part1.json part2.json ...`` collects them into the table.

The stored rows keep every column by name (``rows[name]["columns"][column]``), so an attack
added to the scoreboard later becomes one more key in each row; rerunning the command rebuilds
the whole file, defenses included. Each row also records the sha256 of the shipped weights it
measured (``rows[name]["weights"]``), so a row left from before a model was retrained is found.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..config import data_dir, threads
from ..models import build, load_pretrained
from ..models.pretrained import read_manifest
from ..train import train_classifier
from .static import static_adversarial_set, static_adversarial_training
from .detector import fit_detector
from .ensemble import Ensemble
from .frontend import sparsified_classifier
from .randomized import GaussianNoiseDefense, with_test_time_dropout
from .masking import masking_checklist
from .scoreboard import COLUMNS, AttackBudget, Defense, evaluate_defense

SOURCE = "mnist-cnn (no defense)"  # the first row: its PGD-40 examples are every row's transfer attack
EPS = 0.3                          # the L∞ threat model of notebook 02 (Madry et al. 2018, MNIST)
COMMAND = "python -m coursekit.defenses.lineup"


@dataclass(frozen=True)
class Sizes:
    """Training digits for the defenses notebook 02 trains itself."""

    detector: int = 5_000          # clean digits (and their PGD examples) for the safety net
    static: int = 10_000           # digits (and FGSM examples of mnist-cnn) for static training
    weight_decay: int = 60_000     # digits for the MLP trained with weight decay


FULL_SIZES = Sizes()
QUICK_SIZES = Sizes(detector=1_000, static=2_000, weight_decay=5_000)
FULL_BUDGET = AttackBudget(eps=EPS)                     # the live rows of notebook 02
STORED_BUDGET = AttackBudget(eps=EPS, autoattack=True)  # the stored table: AutoAttack's columns too
QUICK_BUDGET = AttackBudget(eps=EPS, spsa_steps=10, spsa_samples=32)


def default_path() -> Path:
    """Where the full table is kept: ``data/results/defense_table.json``."""
    return data_dir() / "results" / "defense_table.json"


def _timed(fn: Callable):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def shipped(name: str, device=None) -> tuple[nn.Module, float]:
    """A pretrained model and the training time its manifest records."""
    return load_pretrained(name, device=device), read_manifest()[name]["metrics"]["train_seconds"]


def weights_of(names: tuple[str, ...]) -> dict[str, str]:
    """The sha256 of the weights a row measured, by manifest name: the shipped models its system
    is built from, and mnist-cnn, whose PGD-40 examples are every row's transfer attack."""
    manifest = read_manifest()
    return {name: manifest[name]["sha256"] for name in dict.fromkeys((*names, "mnist-cnn"))}


# --- the defenses, section by section --------------------------------------------------------

def undefended(device=None) -> list[Defense]:
    """The two plain networks: mnist-cnn (notebook 01's victim) and the small MLP."""
    out = []
    for name in ("mnist-cnn", "mnist-mlp"):
        model, seconds = shipped(name, device)
        out.append(Defense(f"{name} (no defense)", model, train_seconds=seconds, trained="manifest",
                           weights=(name,)))
    return out


def safety_net(mlp: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int) -> Defense:
    """Metzen et al.'s detector on the MLP's first hidden layer (after its first ReLU, layer 4),
    trained on ``n`` clean digits and their PGD examples; the system rejects what it flags."""
    system, seconds = _timed(lambda: fit_detector(mlp, x[:n], y[:n], EPS, layer=4, progress=False))
    mlp_seconds = read_manifest()["mnist-mlp"]["metrics"]["train_seconds"]
    return Defense("safety-net detector (MLP)", system, train_seconds=mlp_seconds + seconds,
                   trained="manifest + measured", weights=("mnist-mlp",))


def static_training(cnn: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int, seed: int = 0) -> Defense:
    """A fresh mnist-cnn-small trained 3 epochs on ``n`` digits plus FGSM examples forged once
    against mnist-cnn (ε = 0.3): the static adversarial set."""
    def train():
        x_adv = static_adversarial_set(cnn, x[:n], y[:n], "fgsm", eps=EPS)       # forged once, never again
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build("mnist-cnn-small").to(x.device)
        static_adversarial_training(model, x[:n], y[:n], x_adv, epochs=3, seed=seed, progress=False)
        return model.eval()
    model, seconds = _timed(train)
    return Defense("static adversarial training", model, train_seconds=seconds, trained="measured",
                   weights=("mnist-cnn",))     # its examples were forged against mnist-cnn


def failed_defenses(mlp: nn.Module, lenet: nn.Module, x: torch.Tensor, y: torch.Tensor, n_decay: int,
                    seed: int = 0) -> list[Defense]:
    """Noise (σ = 0.3) and dropout (p = 0.3) at test time on the MLP, attacked with EOT over 8
    draws; the MLP retrained 2 epochs with weight decay 10⁻²; the average of MLP and LeNet."""
    manifest = read_manifest()
    mlp_s, lenet_s = (manifest[n]["metrics"]["train_seconds"] for n in ("mnist-mlp", "mnist-lenet"))

    def train_decayed():
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build("mnist-mlp").to(x.device)
        train_classifier(model, x[:n_decay], y[:n_decay], epochs=2, lr=2e-3, weight_decay=1e-2, seed=seed,
                         progress=False)
        return model.eval()
    decayed, decay_seconds = _timed(train_decayed)
    return [Defense("noise at test time (σ = 0.3)", GaussianNoiseDefense(mlp, 0.3), eot=8,
                    train_seconds=mlp_s, trained="manifest", weights=("mnist-mlp",)),
            Defense("dropout at test time (p = 0.3)", with_test_time_dropout(mlp, 0.3), eot=8,
                    train_seconds=mlp_s, trained="manifest", weights=("mnist-mlp",)),
            Defense("weight decay 1e-2", decayed, train_seconds=decay_seconds, trained="measured"),
            Defense("ensemble (MLP + LeNet)", Ensemble([mlp, lenet]), train_seconds=mlp_s + lenet_s,
                    trained="manifest", weights=("mnist-mlp", "mnist-lenet"))]


def front_ends(mlp: nn.Module, k: int = 60) -> list[Defense]:
    """The top-K DCT front end before the MLP: as deployed (8-bit rounding) under plain PGD; without
    the rounding under plain PGD; as deployed under BPDA (identity on the backward pass)."""
    mlp_s = read_manifest()["mnist-mlp"]["metrics"]["train_seconds"]
    deployed = sparsified_classifier(mlp, k=k)
    return [Defense("DCT front end, naive PGD", deployed, train_seconds=mlp_s, trained="manifest",
                    weights=("mnist-mlp",)),
            Defense("DCT top-K without rounding, naive PGD", sparsified_classifier(mlp, k=k, levels=None),
                    train_seconds=mlp_s, trained="manifest", weights=("mnist-mlp",)),
            Defense("DCT front end + BPDA", deployed, attacked_as=sparsified_classifier(mlp, k=k, bpda="identity"),
                    train_seconds=mlp_s, trained="manifest", weights=("mnist-mlp",))]


ADVERSARIALLY_TRAINED = {"FGSM adversarial training": "mnist-cnn-fgsm",
                         "fast FGSM (mnist-cnn-robust)": "mnist-cnn-robust",
                         "PGD-10 training": "mnist-cnn-pgd",
                         "logit pairing": "mnist-cnn-alp",
                         "mixed loss, λ = 1": "mnist-cnn-mixed",
                         "TRADES, wider CNN (mnist-cnn-trades)": "mnist-cnn-trades"}


def adversarially_trained(device=None) -> list[Defense]:
    """The shipped adversarially trained networks (their certified column by IBP)."""
    out = []
    for label, name in ADVERSARIALLY_TRAINED.items():
        model, seconds = shipped(name, device)
        out.append(Defense(label, model, certify="ibp", train_seconds=seconds, trained="manifest",
                           weights=(name,)))
    return out


def certified(device=None) -> Defense:
    """mnist-certified, trained with IBP; its certified column by Wong and Kolter's bound."""
    model, seconds = shipped("mnist-certified", device)
    return Defense("IBP-certified (ε = 0.1)", model, certify="wong-kolter", train_seconds=seconds,
                   trained="manifest", weights=("mnist-certified",))


SECTIONS = ("undefended", "safety net", "static", "failed", "front ends", "adversarially trained",
            "certified")


def lineup(x_train: torch.Tensor, y_train: torch.Tensor, sizes: Sizes = FULL_SIZES, device=None,
           sections: tuple[str, ...] = SECTIONS) -> list[Defense]:
    """Every defense of notebook 02 (or those of ``sections``), in the order of its final table."""
    cnn, mlp = undefended(device)
    lenet, _ = shipped("mnist-lenet", device)
    build = {"undefended": lambda: [cnn, mlp],
             "safety net": lambda: [safety_net(mlp.model, x_train, y_train, sizes.detector)],
             "static": lambda: [static_training(cnn.model, x_train, y_train, sizes.static)],
             "failed": lambda: failed_defenses(mlp.model, lenet, x_train, y_train, sizes.weight_decay),
             "front ends": lambda: front_ends(mlp.model),
             "adversarially trained": lambda: adversarially_trained(device),
             "certified": lambda: [certified(device)]}
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"sections must be among {SECTIONS}, got {sorted(unknown)}")
    return [d for name in SECTIONS if name in sections for d in build[name]()]


# --- scoring ---------------------------------------------------------------------------------

def score(defense: Defense, x: torch.Tensor, y: torch.Tensor, x_transfer: torch.Tensor | None,
          budget: AttackBudget, seed: int = 0) -> dict:
    """One row: :func:`evaluate_defense` plus the name, training time and masking checks."""
    row = evaluate_defense(defense, x, y, x_transfer, budget, seed=seed)
    row.update(name=defense.name, train_seconds=defense.train_seconds, trained=defense.trained,
               weights=defense.weights, checks=masking_checklist(row))
    return row


def score_all(defenses: list[Defense], x: torch.Tensor, y: torch.Tensor, budget: AttackBudget,
              progress: bool = True) -> dict[str, dict]:
    """Every row; the first defense's PGD-40 examples are every other row's transfer attack
    (its own transfer column is its PGD-40 accuracy)."""
    rows, x_transfer = {}, None
    for defense in defenses:
        row = score(defense, x, y, x_transfer, budget)
        if x_transfer is None:
            x_transfer, row["transfer"] = row["x_pgd40"], row["PGD-40"]
            row["checks"] = masking_checklist(row)
        rows[defense.name] = row
        if progress:
            print(f"{defense.name}: " + ", ".join(f"{c} {row[c]:.0%}" for c in COLUMNS if not math.isnan(row[c]))
                  + f"  ({row['eval_seconds']:.0f} s)", flush=True)
    return rows


def comparable(budget_a: AttackBudget, budget_b: AttackBudget) -> list[str]:
    """The columns two budgets measure the same way (SPSA only when its budget matches)."""
    same_spsa = (budget_a.spsa_steps, budget_a.spsa_samples) == (budget_b.spsa_steps, budget_b.spsa_samples)
    return [c for c in budget_a.columns() if c in budget_b.columns() and (c != "SPSA" or same_spsa)]


# --- the stored table ------------------------------------------------------------------------

def run_table(n: int = 500, budget: AttackBudget = STORED_BUDGET, sizes: Sizes = FULL_SIZES,
              out: Path | None = None, sections: tuple[str, ...] = SECTIONS,
              rows_only: tuple[str, ...] | None = None) -> dict:
    """Build every defense (or those of ``sections``, and of them only the rows named in
    ``rows_only``), score it on the first ``n`` test digits after mnist-cnn (the transfer
    source), and write ``out``."""
    from ..data import mnist
    start, cpu = time.perf_counter(), time.process_time()
    with threads(1), torch.random.fork_rng():   # seeded here, the caller's RNG untouched
        torch.manual_seed(0)
        x_train, y_train = mnist("train").tensors()
        x, y = mnist("test").tensors(n)
        defenses = lineup(x_train, y_train, sizes, sections=sections)
        if rows_only is not None:
            defenses = [d for d in defenses if d.name in rows_only]
        source_wanted = bool(defenses) and defenses[0].name == SOURCE
        if not source_wanted:                      # score the transfer source anyway, keep it out
            defenses = undefended()[:1] + defenses
        rows = score_all(defenses, x, y, budget)
        if not source_wanted:
            rows.pop(SOURCE)
    results = {
        "command": command(n), "n_digits": n, "digits": f"the first {n} MNIST test digits", "eps": EPS,
        "budget": asdict(budget), "sizes": asdict(sizes), "columns": list(budget.columns()),
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": 1},
        "wall_seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(time.process_time() - cpu, 1),
        "rows": {name: {"columns": {c: (None if math.isnan(r[c]) else round(r[c], 5)) for c in budget.columns()},
                        "train_seconds": r["train_seconds"], "trained": r["trained"],
                        "weights": weights_of(r["weights"]),
                        "eval_seconds": round(r["eval_seconds"], 1),
                        "spsa_queries_per_digit": round(r["spsa_queries_per_digit"], 1),
                        **({"square_queries_per_digit": round(r["square_queries_per_digit"], 1),
                            "black_box_alone": round(r["black box alone"], 5)} if budget.autoattack else {}),
                        "checks": r["checks"]}
                 for name, r in rows.items()},
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    return results


def command(n: int) -> str:
    """The command that rebuilds a table of ``n`` digits (``--n`` only where it is not 500)."""
    return COMMAND if n == 500 else f"{COMMAND} --n {n}"


def merge_tables(parts: list[Path], out: Path) -> dict:
    """One table from the files of parallel runs (same digits, budget and sizes), rows in the
    lineup's order (the order the parts list them in, part by part)."""
    table: dict = {}
    for path in parts:
        part = json.loads(Path(path).read_text())
        if not table:
            table = {**part, "rows": {}, "wall_seconds": 0.0, "cpu_seconds": 0.0}
        elif any(part[k] != table[k] for k in ("n_digits", "budget", "sizes")):
            raise ValueError(f"{path} was made with other digits, budget or sizes than {parts[0]}")
        table["rows"].update(part["rows"])
        table["wall_seconds"] = round(table["wall_seconds"] + part["wall_seconds"], 1)
        table["cpu_seconds"] = round(table["cpu_seconds"] + part["cpu_seconds"], 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")
    return table


def load_table(path: Path | None = None) -> dict:
    """The stored table, its rows as the notebook's rows (a column's NaN stored as null)."""
    path = default_path() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild it with `{COMMAND}` (about 30 min of CPU)")
    table = json.loads(path.read_text())
    for row in table["rows"].values():
        row["columns"] = {c: (math.nan if v is None else v) for c, v in row["columns"].items()}
    table["budget"] = AttackBudget(**table["budget"])
    return table


def stored_row(table: dict, name: str) -> dict:
    """A stored row in the form :func:`coursekit.defenses.scoreboard.format_table` takes."""
    r = table["rows"][name]
    row = {**r["columns"], "name": name, "train_seconds": r["train_seconds"], "trained": r["trained"],
           "checks": r["checks"]}
    if "black_box_alone" in r:
        row["black box alone"] = r["black_box_alone"]
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 digits, a small budget, printed only")
    parser.add_argument("--n", type=int, default=500, help="test digits (default 500)")
    parser.add_argument("--out", type=Path, default=None, help="results file (default: data/results/)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=SECTIONS,
                        help="score only these sections' rows (for parallel runs; then --merge)")
    parser.add_argument("--rows", nargs="+", default=None, help="of those, score only the rows of these names")
    parser.add_argument("--merge", nargs="+", type=Path, help="merge these tables into --out")
    args = parser.parse_args(argv)
    if args.merge:
        merge_tables(args.merge, args.out or default_path())
    elif args.quick:
        run_table(20, QUICK_BUDGET, QUICK_SIZES, None)
    else:
        results = run_table(args.n, STORED_BUDGET, FULL_SIZES, args.out or default_path(), tuple(args.sections),
                            tuple(args.rows) if args.rows else None)
        print(f"{len(results['rows'])} rows on {args.n} digits in {results['wall_seconds']:.0f} s "
              f"({results['cpu_seconds']:.0f} s of CPU)")


if __name__ == "__main__":
    main()
