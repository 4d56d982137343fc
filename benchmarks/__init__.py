"""Speed and memory measurements: ``make bench`` (or ``python -m benchmarks [NAME ...]``).

Each ``bench_<name>.py`` module defines ``run() -> list[dict]``: one row per measurement,
with the keys printed as table columns. Rows that compare with a reference (a plain loop, a
reference library) carry a ``ratio`` column: ours / reference time, measured in the same run.
"""
