"""coursekit's APGD-CE, APGD-T, Square and AutoAttack against the reference implementations.

    python -m tools.attack_agreement                       # -> data/results/attack_agreement.json
    python -m tools.attack_agreement mnist-cnn-pgd --n 100 --out /tmp/agreement.json

On the first ``n`` (500) MNIST test digits of each model (default: the adversarially trained
mnist-cnn-pgd, where most digits survive and every attack runs its full budget), at ε = 0.3
and AutoAttack's standard budgets (APGD 100 steps, APGD-T 9 targets, Square 5,000 queries with p_init = 0.8 and the
unstretched schedule), each attack is run by coursekit, by torchattacks and by the authors'
code (the ``pyautoattack`` package of fra31/auto-attack), each on every digit, and the whole
ensemble by each: coursekit's APGD-CE → APGD-T → Square, and the references' standard version,
which also runs FAB-T. The file keeps, per attack and implementation, which digits survived
(a string of 0/1), the seconds and the CPU seconds. tests/test_attack_agreement.py reads it:
robust accuracy within 1 point of the references' for the same budgets.

Needs the test dependencies (torchattacks, pyautoattack). Runs on one thread.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import time
from pathlib import Path

import torch

from coursekit import attacks as A
from coursekit.config import data_dir, threads
from coursekit.data import mnist
from coursekit.models import load_pretrained

COMMAND = "python -m tools.attack_agreement"
EPS, N, MODELS = 0.3, 500, ("mnist-cnn-pgd",)


def default_path() -> Path:
    return data_dir() / "results" / "attack_agreement.json"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def implementations(model, x, y) -> dict:
    """(attack, implementation) -> a function returning x_adv on (x, y)."""
    import pyautoattack
    import torchattacks as ta

    logging.getLogger("auto-attack").setLevel(logging.WARNING)
    g = torch.Generator().manual_seed(0)

    def reference(attacks, version="custom"):
        aa = pyautoattack.AutoAttack(model, eps=EPS, seed=0, version=version,
                                     attacks=attacks if version == "custom" else None)
        aa.verbose = False
        if version == "custom":            # the standard version's settings for each attack
            aa.apgd.n_restarts, aa.apgd_targeted.n_target_classes = 1, 9
            aa.apgd_targeted.n_restarts, aa.square.n_queries = 1, 5000
        return lambda: aa.run_standard_evaluation(x, y, batch_size=N)[0]   # (x_adv, y_adv)

    ta_aa = ta.AutoAttack(model, norm="Linf", eps=EPS, version="standard", n_classes=10, seed=0)
    return {
        ("APGD-CE", "coursekit"): lambda: A.apgd(model, x, y, EPS, generator=g),
        ("APGD-CE", "torchattacks"): lambda: ta.APGD(model, eps=EPS, steps=100, loss="ce")(x, y),
        ("APGD-CE", "pyautoattack"): reference(["apgd-ce"]),
        ("APGD-T", "coursekit"): lambda: A.apgd_t(model, x, y, EPS, generator=g),
        ("APGD-T", "torchattacks"): lambda: ta.APGDT(model, eps=EPS, steps=100, n_classes=10)(x, y),
        ("APGD-T", "pyautoattack"): reference(["apgd-t"]),
        ("Square", "coursekit"): lambda: A.square(model, x, y, EPS, 5000, generator=g, rescale=False),
        ("Square", "torchattacks"): lambda: ta.Square(model, eps=EPS, n_queries=5000,
                                                     resc_schedule=False)(x, y),
        ("Square", "pyautoattack"): reference(["square"]),
        ("AutoAttack", "coursekit"): lambda: A.autoattack(model, x, y, EPS).x_adv,
        ("AutoAttack", "torchattacks"): lambda: ta_aa(x, y),
        ("AutoAttack", "pyautoattack"): reference(None, "standard"),
    }


def compare(name: str, n: int = N) -> dict:
    """Every (attack, implementation) on the first ``n`` test digits of model ``name``."""
    model = load_pretrained(name)
    x, y = mnist("test").tensors(n)
    out = {}
    for (attack, impl), run in implementations(model, x, y).items():
        rng = torch.get_rng_state()
        tick, cpu = time.perf_counter(), _cpu()
        x_adv = run()
        seconds, cpu_seconds = time.perf_counter() - tick, _cpu() - cpu
        torch.set_rng_state(rng)          # torchattacks and pyautoattack reseed the global one
        assert (x_adv - x).abs().max() <= EPS + 1e-5, (attack, impl)
        with torch.no_grad():
            robust = (model(x_adv).argmax(1) == y).tolist()
        out.setdefault(attack, {})[impl] = {
            "robust": "".join("1" if r else "0" for r in robust),
            "accuracy": sum(robust) / n, "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1)}
        print(f"{name} {attack:10s} {impl:12s} {sum(robust) / n:.2%}  {seconds:.0f} s "
              f"({cpu_seconds:.0f} s CPU)", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    import pyautoattack
    import torchattacks

    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=list(MODELS))
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--out", type=Path, default=None, help=f"default: {default_path()}")
    args = parser.parse_args(argv)
    out = args.out or default_path()
    results = json.loads(out.read_text()) if out.is_file() else {"models": {}}
    results.update(command=COMMAND, eps=EPS, n=args.n, machine={
        "torch": torch.__version__, "torchattacks": torchattacks.__version__,
        "pyautoattack": pyautoattack.__version__, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "torch_threads": 1})
    with threads(1):
        for name in args.models:
            tick = time.perf_counter()
            attacks = compare(name, args.n)
            results["models"][name] = {"attacks": attacks,
                                       "wall_seconds": round(time.perf_counter() - tick, 1),
                                       "load_average": round(os.getloadavg()[0], 2)}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
