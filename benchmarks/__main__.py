"""Run every benchmark (or those named) and print one table each."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import torch

import benchmarks
from benchmarks._timing import print_table


def main(names: list[str]) -> None:
    found = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(benchmarks.__path__)
                   if m.name.startswith("bench_"))
    unknown = set(names) - set(found)
    if unknown:
        sys.exit(f"unknown benchmark(s) {sorted(unknown)}; available: {found}")
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"CUDA: {torch.cuda.is_available()}")
    for name in names or found:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print_table(f"{name}: {(module.__doc__ or '').strip().splitlines()[0]}", module.run())


if __name__ == "__main__":
    main(sys.argv[1:])
