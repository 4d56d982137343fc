"""Course-wide settings: quick mode, budgets, seeding, device choice and paths.

Every notebook starts with ``import coursekit as ck`` and then reads its budgets with
``ck.budget(full=..., quick=...)``, so one environment variable, ``COURSEKIT_QUICK=1``,
shrinks the whole course to a smoke test (that is how the test suite runs the notebooks).
"""
from __future__ import annotations

import os
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

# The repository root: coursekit/ lives directly under it, next to data/ and notebooks/.
ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder with the shipped data and pretrained files (``$COURSEKIT_DATA`` overrides)."""
    path = Path(os.environ.get("COURSEKIT_DATA", ROOT / "data")).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"coursekit data folder not found: {path}. It ships with the repository in data/; "
            "set COURSEKIT_DATA to its location if you moved it."
        )
    return path


def pretrained_dir() -> Path:
    """Folder with the pretrained model files and their sha256 manifest."""
    return data_dir() / "pretrained"


NOTEBOOKS_DIR = ROOT / "notebooks"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_quick() -> bool:
    """True when ``COURSEKIT_QUICK`` is set to 1/true/yes/on (read at every call)."""
    value = os.environ.get("COURSEKIT_QUICK", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"COURSEKIT_QUICK must be 0 or 1, got {value!r}")


def budget(full, quick):
    """Pick a budget (epochs, samples, steps, ...): ``quick`` in quick mode, else ``full``.

    >>> epochs = budget(full=20, quick=1)
    """
    return quick if is_quick() else full


def seed_all(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices); return a torch Generator with that seed."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    return torch.Generator().manual_seed(seed)


@contextmanager
def seeded(seed: int = 0):
    """Run the block with Python, NumPy and PyTorch seeded as :func:`seed_all` does, then put
    every global random state back: a library function that needs a reproducible global stream
    (dropout draws from it) leaves its caller's random numbers as they were."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        try:
            seed_all(seed)
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: ``prefer``, else ``$COURSEKIT_DEVICE``, else cuda > mps > cpu.

    Asking for a device that is not present raises an error instead of silently falling back.
    """
    name = prefer or os.environ.get("COURSEKIT_DEVICE") or None
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {name!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available here")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device {name!r} was asked for but Apple MPS is not available here")
    if device.type not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {name!r}")
    return device


def _one_thread() -> None:
    torch.set_num_threads(1)


def one_thread_pool(workers: int):
    """``workers`` spawned processes that each run torch on one thread, for independent runs
    that each seed themselves (so a row does not depend on the process that made it); None
    when ``workers`` is 1: run in this process. ``pool.map`` keeps the order of its tasks; shut
    the pool down in a ``finally`` (``pool.shutdown(cancel_futures=True)``), so Ctrl-C stops it."""
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if workers == 1:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread)


class threads:
    """``with ck.threads(1): ...`` runs the block on ``n`` CPU threads, then restores the count.

    Tiny networks (the toy GANs' MLPs) train several times faster on one thread: with more,
    each small matrix product pays for synchronising the threads. Also keeps a seeded run
    bitwise repeatable, since results can depend on how a sum is split across threads.
    """

    def __init__(self, n: int):
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        self.n = n

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)
        return False
