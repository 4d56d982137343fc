"""The survey's results file, ``data/results/attacks_survey.json``: where it is, how it is
written (floats rounded), merging the files of parallel runs, and loading a finished one.

The file records the command, the library versions, the machine and the seconds each
experiment took, and every figure notebook 01 states about the full-size run.

Neighbours in ``coursekit/attacks/survey/``: the run that fills the file is in ``run.py``, the
command line in ``cli.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...config import data_dir
from .settings import SETTINGS

COMMAND = "python -m coursekit.attacks.survey"


def default_path() -> Path:
    """Where the full results are kept: ``data/results/attacks_survey.json``."""
    return data_dir() / "results" / "attacks_survey.json"


def _rounded(value, digits: int = 5):
    """Floats rounded to ``digits`` decimals, everywhere in a nested structure."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, digits) for v in value]
    return value


def write_results(results: dict, out: Path) -> None:
    """Write ``results`` to ``out`` as one line of JSON, floats rounded to 5 decimals."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_rounded(results)) + "\n")


def merge_results(parts: list[Path], out: Path) -> dict:
    """One results file from the files of parallel runs (same configuration): every experiment,
    with its seconds, taken from the part that holds it."""
    results: dict = {}
    for path in parts:
        part = json.loads(Path(path).read_text())
        if results and part["config"] != results["config"]:
            raise ValueError(f"{path} was run with another configuration than {parts[0]}")
        if not results:
            results = {k: v for k, v in part.items() if k not in ("experiments", "seconds", "cpu_seconds")}
            results.update(experiments={}, seconds={}, cpu_seconds={})
        for name, value in part.get("experiments", {}).items():
            results["experiments"][name] = value
            results["seconds"][name] = part["seconds"][name]
            results["cpu_seconds"][name] = part["cpu_seconds"][name]
    results["wall_seconds"] = round(sum(results["seconds"].values()), 1)
    results["cpu_seconds_total"] = round(sum(results["cpu_seconds"].values()), 1)
    results["complete"] = set(results["experiments"]) == set(SETTINGS)
    write_results(results, out)
    return results


def load_results(path: Path | None = None) -> dict:
    """The stored full-size results (``data/results/attacks_survey.json``), checked complete."""
    path = default_path() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild it with `{COMMAND}` (about 20 min of CPU)")
    results = json.loads(path.read_text())
    if not results.get("complete"):
        raise ValueError(f"{path} is incomplete (a run was interrupted); finish it with `{COMMAND}`")
    return results
