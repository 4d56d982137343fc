"""Execute the course notebooks as a student would, and hold each to the time it states.

Every notebook states, in its first cell, how long it took on a 2-core CPU in both modes::

    **Running time** (measured on a 2-core CPU, no GPU): full mode 3 min 30 s, quick mode 40 s.

This script executes notebooks in a fresh kernel (on a copy: the stored notebooks stay
without outputs), times each, and fails when one raises an error, runs over its stated time,
or runs over the course's ceiling (5 minutes in full mode, 60 s in quick mode).

    python -m tools.run_notebooks                      # every notebook, full mode (make test-full)
    python -m tools.run_notebooks --quick 01 02        # quick mode, two notebooks
    python -m tools.run_notebooks --out build/executed # keep the executed copies (for the site)
    python -m tools.run_notebooks --record             # write the measured times into cell 0

A notebook's time is the smaller of its wall time and its kernel's CPU time (user + system,
every thread). On a quiet machine that is the wall time; on a loaded one, where other processes
stretch the wall time, the CPU time of a run with ``OMP_NUM_THREADS=1`` is what the notebook
needs (a 1-thread run is never faster than the 2-thread run a student gets). The script prints
both and the load it saw.

``--record`` rounds up: it states ``ceil(1.15 × time)`` to the next 10 s, so a statement
holds on a machine of the same kind with some noise.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import resource
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CEILING_S = {"full": 300, "quick": 60}
MARGIN = 1.15  # --record states the measured time × MARGIN, rounded up to 10 s

_DURATION = r"(?:(?P<{m}_min>\d+)\s*min)?\s*(?:(?P<{m}_s>\d+)\s*s)?"
TIME_LINE = re.compile(
    r"\*\*Running time\*\*[^:\n]*:\s*full mode\s+" + _DURATION.format(m="full")
    + r"\s*,\s*quick mode\s+" + _DURATION.format(m="quick") + r"\s*\.")
TEMPLATE = ("**Running time** (measured on a 2-core CPU, no GPU): full mode {full}, "
            "quick mode {quick}.")


def format_duration(seconds: float) -> str:
    """120 → '2 min', 130 → '2 min 10 s', 40 → '40 s'."""
    seconds = int(round(seconds))
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"


def stated_times(source: str) -> dict[str, int]:
    """The full- and quick-mode seconds that a first cell states; ValueError if it states none."""
    match = TIME_LINE.search(source)
    if not match:
        raise ValueError("the first cell states no running time; expected a line like\n    "
                         + TEMPLATE.format(full="3 min 30 s", quick="40 s"))
    times = {}
    for mode in ("full", "quick"):
        minutes, seconds = match.group(f"{mode}_min"), match.group(f"{mode}_s")
        if minutes is None and seconds is None:
            raise ValueError(f"the running-time line gives no {mode}-mode time: {match.group(0)!r}")
        times[mode] = 60 * int(minutes or 0) + int(seconds or 0)
    return times


def recorded(measured_s: float) -> int:
    """The time to state for a measurement: × MARGIN, rounded up to a multiple of 10 s."""
    return int(math.ceil(measured_s * MARGIN / 10.0) * 10)


def with_times(source: str, full_s: int, quick_s: int) -> str:
    """``source`` with its running-time line replaced (or appended) for the given seconds."""
    line = TEMPLATE.format(full=format_duration(full_s), quick=format_duration(quick_s))
    if TIME_LINE.search(source):
        return TIME_LINE.sub(line.replace("\\", r"\\"), source, count=1)
    return source.rstrip() + "\n\n" + line


def resolve(names: list[str]) -> list[Path]:
    every = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        hits = [p for p in every if p.name.startswith(name) or p.stem == name]
        if len(hits) != 1:
            raise SystemExit(f"notebook {name!r} matches {[p.name for p in hits] or 'nothing'}")
        chosen.append(hits[0])
    return chosen


def execute(path: Path, quick: bool, out_dir: Path | None, timeout: int):
    """Run one notebook in a fresh kernel from the notebooks folder; (wall s, CPU s, error or None).

    The CPU time is the kernel's (a child process, counted once it has exited)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    env_quick = "1" if quick else "0"
    os.environ["COURSEKIT_QUICK"] = env_quick      # the kernel inherits the environment
    os.environ.setdefault("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    cpu_start = _children_cpu()
    error = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        error = str(err).strip().splitlines()[-1][:500] if str(err).strip() else type(err).__name__
    seconds = time.perf_counter() - start
    cpu = _children_cpu() - cpu_start
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out_dir / path.name)
    return seconds, cpu, error


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="names or number prefixes (default: all)")
    parser.add_argument("--quick", action="store_true", help="quick mode (COURSEKIT_QUICK=1)")
    parser.add_argument("--out", type=Path, help="folder to keep the executed notebooks in")
    parser.add_argument("--record", action="store_true",
                        help="write the measured time of this mode into each notebook's first cell")
    parser.add_argument("--cell-timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{mode} mode; load average before the run: {load:.2f}", flush=True)

    failures = []
    for path in resolve(args.notebooks):
        nb = nbformat.read(path, as_version=4)
        try:
            stated = stated_times(nb.cells[0].source)
        except ValueError as err:
            stated = None
            if not args.record:
                failures.append(f"{path.name}: {err}")
        wall, cpu, error = execute(path, args.quick, args.out, args.cell_timeout)
        seconds = min(wall, cpu) if cpu > 0 else wall
        limit = min(stated[mode], CEILING_S[mode]) if stated else CEILING_S[mode]
        verdict = "ok"
        if error:
            verdict = f"ERROR: {error}"
            failures.append(f"{path.name}: {error}")
        elif seconds > CEILING_S[mode]:
            verdict = f"over the {CEILING_S[mode]} s ceiling of {mode} mode"
            failures.append(f"{path.name}: {seconds:.0f} s, {verdict}")
        elif stated and seconds > stated[mode] and not args.record:
            verdict = f"over its stated {format_duration(stated[mode])}"
            failures.append(f"{path.name}: {seconds:.0f} s, {verdict}")
        print(f"{path.name:40s} {seconds:7.1f} s  (wall {wall:.1f} s, CPU {cpu:.1f} s; limit {limit} s)  "
              f"{verdict}", flush=True)
        if args.record and not error:
            times = dict(stated or {"full": 0, "quick": 0})
            times[mode] = recorded(seconds)
            nb.cells[0].source = with_times(nb.cells[0].source, times["full"], times["quick"])
            nbformat.write(nb, path)
            print(f"  recorded {mode} mode {format_duration(times[mode])} in {path.name}")
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average after the run: {load_after:.2f}")
    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
