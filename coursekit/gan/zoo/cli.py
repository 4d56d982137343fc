"""The loss zoo's command line: ``python -m coursekit.gan.zoo [--quick] [--out FILE] [--losses ...]
[--tips ...] [--problems ...] [--extra ...] [--workers N]`` runs the experiment and prints its tables.

Neighbours in ``coursekit/gan/zoo/``: ``__main__.py`` calls :func:`main`; the experiment is in
``experiment.py``, the tables in ``tables.py``, the results file in ``store.py``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..losses import LOSSES
from .experiment import run_zoo
from .settings import EXTRA, FULL, QUICK, TIPS
from .store import COMMAND, default_path
from .tables import format_table


def main(argv: list[str] | None = None) -> None:
    experiment_doc = sys.modules[__package__].__doc__  # the package docstring describes the experiment
    parser = argparse.ArgumentParser(prog=COMMAND, description=experiment_doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced version: 1 seed, few steps")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output file (default: {default_path()} in full mode, none with --quick)")
    parser.add_argument("--losses", nargs="*", default=list(LOSSES), choices=list(LOSSES))
    parser.add_argument("--tips", nargs="*", default=list(TIPS), choices=list(TIPS))
    parser.add_argument("--problems", nargs="+", default=["ring", "mnist"], choices=["ring", "mnist"])
    parser.add_argument("--extra", nargs="*", default=list(EXTRA), choices=list(EXTRA))
    parser.add_argument("--workers", type=int, default=1,
                        help="runs at once, each in a one-thread process (the rows do not change)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None or args.quick else default_path()
    torch.set_num_threads(1)
    results = run_zoo(QUICK if args.quick else FULL, tuple(args.losses), tuple(args.tips),
                      tuple(args.problems), out=out, extra=tuple(args.extra),
                      workers=args.workers)
    print(format_table(results, "losses"))
    if any(results["tips"].values()):
        print()
        print(format_table(results, "tips"))
    print(f"{results['wall_seconds']:.0f} s in all" + (f"; written to {out}" if out else ""))
