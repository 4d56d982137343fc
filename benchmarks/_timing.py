"""Timing helpers shared by the benchmarks."""
from __future__ import annotations

import time
from typing import Callable

import torch


def best_time(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Best wall-clock seconds of ``repeat`` calls after ``warmup`` calls (GPU work synchronised)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def print_table(title: str, rows: list[dict]) -> None:
    """Print ``rows`` as an aligned text table under ``title``."""
    print(f"\n## {title}")
    if not rows:
        print("(no rows)")
        return
    cols = list(dict.fromkeys(k for row in rows for k in row))
    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    widths = {c: max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(fmt(r.get(c, "")).ljust(widths[c]) for c in cols))
