"""Rebuild the shipped pretrained files: ``python -m coursekit.pretrain NAME``.

Each recipe trains from a fixed seed, measures what the file is tested for (test accuracy
on the full MNIST test set), prints its time, and records file, sha256 and figures in
``data/pretrained/manifest.json``. ``--quick`` runs a tiny version (for tests), and
``--out DIR`` writes somewhere other than data/pretrained/.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .config import pretrained_dir, seed_all
from .data import mnist
from .models import build
from .models.pretrained import register
from .train import accuracy, random_shift, train_classifier

# name -> (architecture, its arguments, training arguments)
RECIPES = {
    "mnist-cnn": ("mnist-cnn", {}, {"epochs": 6, "lr": 3e-3, "batch_size": 128, "augment": random_shift}),
    "mnist-mlp": ("mnist-mlp", {}, {"epochs": 8, "lr": 2e-3, "batch_size": 128}),
}


def pretrain(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train recipe ``name`` from seed ``seed``, save it and return its manifest figures."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; available: {sorted(RECIPES)}")
    arch, kwargs, train_kwargs = RECIPES[name]
    seed_all(seed)
    x, y = mnist("train").tensors()
    x_test, y_test = mnist("test").tensors()
    if quick:
        x, y, x_test, y_test = x[:512], y[:512], x_test[:256], y_test[:256]
        train_kwargs = {**train_kwargs, "epochs": 1}
    model = build(arch, **kwargs)
    start = time.perf_counter()
    history = train_classifier(model, x, y, seed=seed, **train_kwargs)
    seconds = time.perf_counter() - start
    acc = accuracy(model, x_test, y_test)
    metrics = {"test_accuracy": round(acc, 4), "train_seconds": round(seconds, 1),
               "epochs": history[-1]["epoch"], "threads": torch.get_num_threads()}
    path = register(name, model, arch, kwargs, metrics, folder=out)
    print(f"{name}: test accuracy {acc:.2%} after {seconds:.0f} s of training -> {path}")
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coursekit.pretrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", choices=sorted(RECIPES) + ["all"],
                        help="what to rebuild ('all' for every recipe)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default: {pretrained_dir()})")
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = sorted(RECIPES) if "all" in args.names else args.names
    for name in names:
        pretrain(name, out=args.out, quick=args.quick, seed=args.seed)


if __name__ == "__main__":
    main()
