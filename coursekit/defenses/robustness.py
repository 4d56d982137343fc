"""Robust accuracy of the shipped defended models as the field reports it: AutoAttack, beside PGD.

    python -m coursekit.defenses.robustness                  # every defended model
    python -m coursekit.defenses.robustness mnist-cnn-pgd    # one of them

For each model, on its sample (:data:`SAMPLES`: the first 1,000 test digits; all 10,000 for
"mnist-cnn-trades", the course's robust model) and at its ε (0.3; 0.1 for the IBP-certified
model, the radius it was built for), digit by digit:

* clean: classified correctly without attack;
* PGD-50×10: L∞ PGD, 50 steps of α = 0.01 from 10 random starts, broken when any start
  breaks it (Wong, Rice & Kolter 2020's MNIST evaluation, the figure the manifest has had);
* AutoAttack (:func:`coursekit.attacks.autoattack`): APGD-CE, APGD-T (9 targets) and Square
  (5,000 queries), each on the survivors of the ones before, and which of them broke it.

The rows go to ``data/results/robustness.json`` after every chunk of 500 digits (so a long run
on a shared machine resumes where it stopped), with the command, the library versions, the
wall and CPU time; ``--workers N`` evaluates N chunks at once in N one-thread processes (each
chunk has its own seed, so the rows are those of one process). When a model is complete its
summary is written into its manifest entry (``autoattack_accuracy`` and ``autoattack_eval``). :func:`summarize` recomputes every figure
from the rows, which is what the tests check.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch

from ..attacks import autoattack
from ..attacks.autoattack import ATTACKS
from ..config import data_dir, one_thread_pool, pretrained_dir, threads
from ..data import mnist
from ..models import load_pretrained
from ..models.pretrained import MANIFEST, read_manifest
from .scoreboard import Defense, survives_restarts

COMMAND = "python -m coursekit.defenses.robustness"
CHUNK = 500
PGD = {"steps": 50, "alpha": 0.01, "restarts": 10}           # Wong et al. 2020, MNIST
AUTOATTACK = {"attacks": list(ATTACKS), "steps": 100, "targets": 9, "queries": 5000}
# name -> (number of first test digits, ε); every defended model the manifest ships
SAMPLES = {
    "mnist-cnn-robust": (1_000, 0.3),
    "mnist-cnn-fgsm": (1_000, 0.3),
    "mnist-cnn-pgd": (1_000, 0.3),
    "mnist-cnn-mixed": (1_000, 0.3),
    "mnist-cnn-alp": (1_000, 0.3),
    "mnist-certified": (1_000, 0.1),
    "mnist-cnn-trades": (10_000, 0.3),     # the course's robust model: the whole test set
}


def default_path() -> Path:
    return data_dir() / "results" / "robustness.json"


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval for a share k/n (Clopper & Pearson 1934)."""
    from scipy.stats import beta

    a = (1 - level) / 2
    low = beta.ppf(a, k, n - k + 1) if k > 0 else 0.0
    high = beta.ppf(1 - a, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def summarize(rows: list[list]) -> dict:
    """Every figure of a model from its per-digit rows [label, clean, pgd, broken_by].

    ``clean`` and ``pgd`` are 1 when the digit is classified correctly without attack, or after
    PGD-50×10; ``broken_by`` is "clean", an AutoAttack attack's name, or "" (robust).
    """
    n = len(rows)
    robust = sum(r[3] == "" for r in rows)
    after, left = {}, sum(r[1] for r in rows)
    for name in ATTACKS:
        left -= sum(r[3] == name for r in rows)
        after[name] = left / n
    return {
        "n": n,
        "clean_accuracy": sum(r[1] for r in rows) / n,
        "pgd50x10_accuracy": sum(r[2] for r in rows) / n,
        "autoattack_accuracy": robust / n,
        "autoattack_interval_95": clopper_pearson(robust, n),
        "accuracy_after": after,
        "square_only": sum(r[3] == "square" for r in rows) / n,
        "pgd_breaks_autoattack_does_not": sum(r[2] == 0 and r[3] == "" for r in rows) / n,
    }


def same_verdicts(broken_by: list[str], rows: list[list]) -> int:
    """On how many digits a live AutoAttack run (its ``broken_by``) and the stored ``rows`` of the
    same digits agree on whether the digit survived (robust or not, whichever attack broke it)."""
    if len(broken_by) != len(rows):
        raise ValueError(f"rows must hold one row per digit of broken_by ({len(broken_by)}), "
                         f"got {len(rows)}")
    return sum((b == "") == (r[3] == "") for b, r in zip(broken_by, rows))


def evaluate_chunk(model, x: torch.Tensor, y: torch.Tensor, eps: float, seed: int) -> tuple[list, list]:
    """Rows [label, clean, pgd, broken_by] for one chunk of digits, and AutoAttack's report."""
    pgd_ok = survives_restarts(Defense("model", model), x, y, eps, PGD["alpha"], PGD["steps"],
                               PGD["restarts"], torch.Generator().manual_seed(seed))
    aa = autoattack(model, x, y, eps, steps=AUTOATTACK["steps"], targets=AUTOATTACK["targets"],
                    queries=AUTOATTACK["queries"], seed=seed)
    rows = [[int(label), int(b != "clean"), int(ok), b]
            for label, ok, b in zip(y.tolist(), pgd_ok.tolist(), aa.broken_by)]
    return rows, aa.report


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(out)


def _timed_chunk(name: str, n: int, start: int, size: int, seed: int) -> dict:
    """One chunk of ``name``'s evaluation (digits start..start + size) with its wall and CPU time,
    in this process or a worker (loading the model and digits takes well under a second, the
    chunk minutes)."""
    model, (x, y) = load_pretrained(name), mnist("test").tensors(n)
    tick, cpu = time.perf_counter(), _cpu_seconds()
    rows, report = evaluate_chunk(model, x[start:start + size], y[start:start + size], SAMPLES[name][1], seed)
    return {"rows": rows, "report": report, "wall": time.perf_counter() - tick,
            "cpu": _cpu_seconds() - cpu, "load": os.getloadavg()[0], "pid": os.getpid()}


def evaluate_model(name: str, results: dict, out: Path | None, seed: int = 0,
                   n: int | None = None, progress: bool = True, workers: int = 1,
                   chunk: int = CHUNK) -> dict:
    """Run (or resume) the evaluation of ``name`` inside ``results``; write after every chunk.

    The entry records the sha256 of the weights it attacks (the manifest's); rows stored for
    other weights (a retrained model) or another sample are discarded, not resumed.

    Chunk i (digits i·chunk to (i + 1)·chunk) is attacked with seed ``seed + i``, so its rows do
    not depend on which process ran it: ``workers`` > 1 runs that many chunks at once in
    one-thread processes and stores the same rows, in order, as one process would."""
    pool = one_thread_pool(workers)   # checks workers first
    n_default, eps = SAMPLES[name]
    n = n or n_default
    weights = read_manifest()[name]["sha256"]     # rows of other weights are not resumed
    entry = results["models"].get(name)
    if entry is None or (entry["n"], entry["eps"], entry.get("sha256")) != (n, eps, weights):
        entry = {"n": n, "eps": eps, "sha256": weights, "sample": f"the first {n:,} MNIST test digits",
                 "complete": False, "rows": [], "wall_seconds": 0.0, "cpu_seconds": 0.0,
                 "attack_seconds": {a: 0.0 for a in ATTACKS}, "load_average": []}
        results["models"][name] = entry
    entry["processes"] = max(entry.get("processes", 1), workers)
    starts = range(len(entry["rows"]), n, chunk)
    jobs = ([name] * len(starts), [n] * len(starts), starts, [chunk] * len(starts),
            [seed + start // chunk for start in starts])
    try:
        for done in (pool.map(_timed_chunk, *jobs) if pool else map(_timed_chunk, *jobs)):  # in order
            entry["rows"] += done["rows"]
            for r in done["report"]:
                entry["attack_seconds"][r["attack"]] = round(entry["attack_seconds"][r["attack"]] + r["seconds"], 1)
            entry["wall_seconds"] = round(entry["wall_seconds"] + done["wall"], 1)
            entry["cpu_seconds"] = round(entry["cpu_seconds"] + done["cpu"], 1)
            entry["load_average"].append(round(done["load"], 2))
            if progress:
                s = summarize(entry["rows"])
                print(f"{name}: {len(entry['rows']):,}/{n:,} digits, clean {s['clean_accuracy']:.2%}, "
                      f"PGD-50×10 {s['pgd50x10_accuracy']:.2%}, AutoAttack {s['autoattack_accuracy']:.2%} "
                      f"(Square alone {s['square_only']:.2%}); {entry['wall_seconds']:.0f} s wall, "
                      f"{entry['cpu_seconds']:.0f} s CPU", flush=True)
            if out is not None:
                _write(results, out)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    entry["complete"] = True
    entry["summary"] = summarize(entry["rows"])
    if out is not None:
        _write(results, out)
    return entry


def record_in_manifest(name: str, entry: dict, folder: Path | None = None) -> None:
    """Write a complete evaluation's figures into ``name``'s manifest entry."""
    folder = Path(folder or pretrained_dir())
    manifest = read_manifest(folder)
    s = entry["summary"]
    manifest[name]["metrics"]["autoattack_accuracy"] = round(s["autoattack_accuracy"], 4)
    manifest[name]["metrics"]["autoattack_eval"] = {
        "eps": entry["eps"], **AUTOATTACK, "n_test": entry["n"], "sample": entry["sample"],
        "clean_accuracy": round(s["clean_accuracy"], 4),
        "pgd50x10_accuracy": round(s["pgd50x10_accuracy"], 4), "pgd": PGD,
        "interval_95": [round(v, 4) for v in s["autoattack_interval_95"]],
        "square_only": round(s["square_only"], 4),
        "results": "data/results/robustness.json", "command": f"{COMMAND} {name}",
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def run(names: list[str], out: Path | None = None, seed: int = 0, n: int | None = None,
        manifest: bool = True, progress: bool = True, workers: int = 1) -> dict:
    """Evaluate ``names`` (resuming what ``out`` holds); record finished ones in the manifest."""
    unknown = [m for m in names if m not in SAMPLES]
    if unknown:
        raise ValueError(f"names must come from {list(SAMPLES)}, got {unknown}")
    out = Path(out) if out is not None else None
    results = json.loads(out.read_text()) if out is not None and out.is_file() else {}
    results.setdefault("models", {})
    results.update(command=COMMAND, seed=seed, pgd=PGD, autoattack=AUTOATTACK,
                   machine={"torch": torch.__version__, "python": platform.python_version(),
                            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()},
                   note="per digit: [label, clean, pgd50x10, broken_by]; broken_by is 'clean', "
                        "the AutoAttack attack that broke it, or '' (robust)")
    for name in names:
        entry = evaluate_model(name, results, out, seed, n, progress, workers)
        if manifest and n is None:
            record_in_manifest(name, entry)
    return results


def load_results(path: Path | None = None) -> dict:
    """The stored evaluation (default ``data/results/robustness.json``)."""
    path = Path(path or default_path())
    if not path.is_file():
        raise FileNotFoundError(f"no robustness results at {path}; `{COMMAND}` computes them")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(SAMPLES), help="models (default: all)")
    parser.add_argument("--n", type=int, default=None,
                        help="digits (default: each model's sample); a different n is not "
                             "recorded in the manifest")
    parser.add_argument("--out", type=Path, default=None, help=f"default: {default_path()}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="chunks evaluated at once, each in a one-thread process (default 1: "
                             "this process, on --threads threads)")
    args = parser.parse_args(argv)
    with threads(args.threads):
        run(args.names, args.out or default_path(), args.seed, args.n,
            manifest=args.out is None, workers=args.workers)


if __name__ == "__main__":
    main()
