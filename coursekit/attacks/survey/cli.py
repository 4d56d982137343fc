"""The survey's command line: ``python -m coursekit.attacks.survey [--quick] [--out FILE]
[--only NAME ...] [--merge FILE ...]``.

Neighbours in ``coursekit/attacks/survey/``: ``__main__.py`` calls :func:`main`; the run is in
``run.py``, the results file in ``store.py``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .run import run_survey
from .settings import FULL, QUICK
from .store import COMMAND, default_path, merge_results


def main(argv: list[str] | None = None) -> None:
    survey_doc = sys.modules[__package__].__doc__      # the package docstring describes the survey
    parser = argparse.ArgumentParser(prog=COMMAND, description=survey_doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few digits per experiment, printed only")
    parser.add_argument("--out", type=Path, default=None, help="results file (default: data/results/)")
    parser.add_argument("--only", nargs="*", help="run only these experiments")
    parser.add_argument("--merge", nargs="+", type=Path, help="merge these results files into --out")
    args = parser.parse_args(argv)
    if args.merge:
        merge_results(args.merge, args.out or default_path())
    elif args.quick:
        results = run_survey(QUICK, None, args.only)
        print(json.dumps({k: v for k, v in results["experiments"].items()}, indent=1)[:6000])
    else:
        run_survey(FULL, args.out or default_path(), args.only)
