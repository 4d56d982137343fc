"""What every recipe shares, written once: a :class:`Run` seeds everything from the recipe's
seed, knows the quick-mode sizes, times training (CPU and wall), and registers the result in
the manifest with the machine's figures (threads, load average) and a one-line summary.

A recipe reads top to bottom as: ``run = Run(name, out, quick, seed)``, load the data, build
the model, ``with run.timed(): train(...)``, measure, ``run.finish(model, ...)``.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, is_dataclass, replace
from pathlib import Path

import torch

from ..config import seed_all
from ..data import mnist
from ..models.pretrained import register, register_extra

# quick mode, the tests' tiny run of the same code path: training and test digits, epochs, steps
QUICK_TRAIN, QUICK_TEST, QUICK_EPOCHS, QUICK_STEPS = 512, 256, 1, 4


@dataclass
class Clock:
    """Wall and CPU seconds (the process's user + system time) of a :func:`timed` block."""
    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed():
    """``with timed() as clock: ...`` fills ``clock.wall`` and ``clock.cpu`` when the block ends.
    On a shared machine the wall time is inflated; the CPU time of a one-thread run is the
    honest estimate of a quiet machine's wall time."""
    clock = Clock()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield clock
    finally:
        clock.wall, clock.cpu = time.perf_counter() - wall, time.process_time() - cpu


@dataclass
class Run:
    """One run of recipe ``name``: Python, NumPy and PyTorch are seeded from ``seed`` when it
    is made; ``out`` is the output folder (None: data/pretrained/); ``quick`` the tiny run."""

    name: str
    out: Path | None = None
    quick: bool = False
    seed: int = 0
    training: Clock = field(default_factory=Clock)

    def __post_init__(self):
        seed_all(self.seed)
        self.load_start = os.getloadavg()[0]

    def size(self, full, tiny):
        """``tiny`` in quick mode, else ``full``."""
        return tiny if self.quick else full

    def shrink(self, train, key: str = "epochs"):
        """The training arguments ``train`` (a dict or a dataclass), with ``key`` ("epochs" or
        "steps") cut to the quick run's in quick mode."""
        if not self.quick:
            return train
        value = {"epochs": QUICK_EPOCHS, "steps": QUICK_STEPS}[key]
        return replace(train, **{key: value}) if is_dataclass(train) else {**train, key: value}

    def data(self, dataset=mnist) -> tuple:
        """``dataset``'s (default MNIST) training and test tensors, (x, y, x_test, y_test):
        all of them, or the first QUICK_TRAIN and QUICK_TEST in quick mode."""
        x, y = dataset("train").tensors(self.size(None, QUICK_TRAIN))
        x_test, y_test = dataset("test").tensors(self.size(None, QUICK_TEST))
        return x, y, x_test, y_test

    @contextmanager
    def timed(self):
        """Time the training: its seconds go into :meth:`figures`."""
        with timed() as self.training:
            yield self.training

    def figures(self) -> dict:
        """What every manifest entry records about the run besides the model's own figures."""
        # to the millisecond: a quick-mode run can take under 0.05 s, which 0.1 s would record as 0
        return {"train_seconds": round(self.training.wall, 3),
                "train_cpu_seconds": round(self.training.cpu, 3),
                "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                "load_average_1min": [round(self.load_start, 2), round(os.getloadavg()[0], 2)]}

    def finish(self, model: torch.nn.Module, arch: str, kwargs: dict, metrics: dict, summary: str,
               extra: dict | None = None) -> dict:
        """Save ``model`` as ``<name>.pt`` and record it in the manifest with ``metrics`` (which
        may override :meth:`figures`), and ``extra`` (e.g. the training history) as
        ``<name>-history.pt``; print ``summary``, the training time and the file. Returns the
        figures recorded."""
        metrics = {**self.figures(), **metrics}
        path = register(self.name, model, arch, kwargs, metrics, folder=self.out)
        if extra is not None:
            history = path.with_name(f"{self.name}-history.pt")
            torch.save(extra, history)
            register_extra(self.name, history, folder=self.out)
        print(f"{self.name}: {summary}; {self.training.cpu:.0f} s of CPU ({self.training.wall:.0f} s "
              f"wall) on {torch.get_num_threads()} thread(s) -> {path}")
        return metrics
