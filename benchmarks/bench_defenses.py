"""Adversarial training, one epoch on 5,000 MNIST digits: fast (FGSM + random start) and PGD-7, beside ART.

Side by side in one run, on the same network ("mnist-cnn-small", the net of Wong et al. 2020's
MNIST experiments, freshly initialised from the same seed for every run), the same 5,000
training digits (50 batches of 100), ε = 0.3, one epoch each:

- fast adversarial training (Wong, Rice & Kolter 2020): coursekit's ``adversarial_training``
  with the "fast" recipe (α = 1.25·ε) against ART's ``AdversarialTrainerFBFPyTorch``, which
  hard-codes the same α;
- PGD-7 training (Madry et al. 2018; 7 steps of α = 0.1, one random start): coursekit's "pgd"
  recipe against ART's ``AdversarialTrainerMadryPGD``.

Both use Adam; ART applies its own learning-rate schedule, so only the time is compared, not
the weights reached. Runs are interleaved (round-robin) and each one's best of ``REPEAT``
rounds is kept, so drifts in machine load hit every method alike. ``ratio`` = coursekit time /
ART time (< 1: coursekit is faster).
"""
from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import replace

import numpy as np
import torch

from coursekit.config import seed_all
from coursekit.data import mnist
from coursekit.defenses.adversarial import RECIPES, adversarial_training
from coursekit.models import build

N, BATCH, EPS, PGD_STEPS, PGD_ALPHA, REPEAT = 5000, 100, 0.3, 7, 0.1, 3
ARCH = "mnist-cnn-small"


def _fresh_model(device):
    seed_all(0)
    return build(ARCH).to(device)


def _ours(recipe, x, y, device):
    def run():
        adversarial_training(_fresh_model(device), x, y, recipe, progress=False)
    return run


class _Whole(torch.nn.Module):
    """Hides that the model is an nn.Sequential: ART's wrapper would then return the output of
    every layer, and its FBF trainer reads element [0] of that list as the logits."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def _art_classifier(model, device):
    from art.estimators.classification import PyTorchClassifier
    return PyTorchClassifier(_Whole(model), loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 28, 28),
                             nb_classes=10, clip_values=(0.0, 1.0),
                             optimizer=torch.optim.Adam(model.parameters(), lr=5e-3),
                             device_type="gpu" if device.type == "cuda" else "cpu")


def _art_fbf(x_np, y_np, device):
    from art.defences.trainer import AdversarialTrainerFBFPyTorch

    def run():
        trainer = AdversarialTrainerFBFPyTorch(_art_classifier(_fresh_model(device), device), eps=EPS)
        with contextlib.redirect_stderr(io.StringIO()):      # ART's progress bars
            trainer.fit(x_np, y_np, nb_epochs=1, batch_size=BATCH)
    return run


def _art_madry(x_np, y_np, device):
    from art.defences.trainer import AdversarialTrainerMadryPGD

    def run():
        trainer = AdversarialTrainerMadryPGD(_art_classifier(_fresh_model(device), device),
                                             nb_epochs=1, batch_size=BATCH, eps=EPS,
                                             eps_step=PGD_ALPHA, max_iter=PGD_STEPS,
                                             num_random_init=1)
        with contextlib.redirect_stderr(io.StringIO()):
            trainer.fit(x_np, y_np)
    return run


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run() -> list[dict]:
    logging.getLogger("art").setLevel(logging.WARNING)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x, y = mnist("train").tensors(N)
    x_np, y_np = x.numpy(), np.eye(10, dtype=np.float32)[y.numpy()]
    fast = replace(RECIPES["fast"], epochs=1, batch_size=BATCH, eps=EPS)
    madry = replace(RECIPES["pgd"], epochs=1, batch_size=BATCH, eps=EPS, steps=PGD_STEPS,
                    alpha=PGD_ALPHA)
    pairs = {"fast (FGSM + random start)": (_ours(fast, x.to(device), y.to(device), device),
                                            _art_fbf(x_np, y_np, device)),
             f"PGD-{PGD_STEPS}": (_ours(madry, x.to(device), y.to(device), device),
                                  _art_madry(x_np, y_np, device))}
    try:
        import art  # noqa: F401
    except ImportError:                          # ART is a test dependency: time ours alone
        pairs = {k: (ours, None) for k, (ours, _) in pairs.items()}
    best = {(k, who): float("inf") for k in pairs for who in ("coursekit", "ART")}
    for round_ in range(REPEAT + 1):             # round 0 warms up and is not kept
        for name, (ours, theirs) in pairs.items():
            for who, fn in (("coursekit", ours), ("ART", theirs)):
                if fn is None:
                    continue
                _sync(device)
                start = time.perf_counter()
                fn()
                _sync(device)
                seconds = time.perf_counter() - start
                if round_ > 0:
                    best[name, who] = min(best[name, who], seconds)
    rows = []
    for name in pairs:
        ours, theirs = best[name, "coursekit"], best[name, "ART"]
        rows.append({"training": name, "batches": N // BATCH, "coursekit s": ours,
                     "ART s": theirs if theirs < float("inf") else "n/a",
                     "digits/s (coursekit)": N / ours,
                     "ratio": ours / theirs if theirs < float("inf") else "n/a"})
    return rows


if __name__ == "__main__":
    from benchmarks._timing import print_table
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print_table(__doc__.strip().splitlines()[0], run())
