"""Training for certified robustness with interval bound propagation (IBP).

Gowal et al. 2018, "On the Effectiveness of Interval Bound Propagation for Training
Verifiably Robust Models", eq. 12: minimise a mix of the clean loss and the *specification*
loss, the cross-entropy of the worst-case logits that IBP allows over the ε-ball,

    L = κ · ℓ(z_K(x), y) + (1 − κ) · ℓ(ẑ_K(ε), y),    ẑ_{K,j} = −(lower bound of z_y − z_j),

(ẑ_{K,y} = 0). Training at full ε from the start fails, so ε is ramped up linearly from 0
after a warm-up on clean data, while κ goes down from 1 to ``kappa_end`` (their MNIST
recipe: 2k warm-up steps, 10k ramp steps, κ_end = 0.5, and a training ε larger than the one
tested: ε_train = 0.2 for ε_test = 0.1).

The training loop is :func:`coursekit.train.train_classifier` with this loss plugged in.
"""
from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..train import train_classifier
from ..validate import check_labels
from .certify import _check_args, bound_layers, certified_accuracy, interval_bounds, margin_spec


def ramp(t: float, start: float, length: float) -> float:
    """0 before ``start``, then linear up to 1 at ``start + length`` (t, start, length in [0, 1])."""
    if length <= 0:
        return float(t >= start)
    return min(max((t - start) / length, 0.0), 1.0)


def worst_case_logits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                      clip: bool = True) -> torch.Tensor:
    """ẑ(ε), (N, K): −(IBP lower bound of z_y − z_j), so ẑ_y = 0 (Gowal et al., eq. 8)."""
    _check_args(x, eps, clip, model)
    layers = bound_layers(model)
    check_labels(y, len(x), num_classes=layers[-1].out_features)
    C = margin_spec(y, layers[-1].out_features)
    lower, _ = interval_bounds(model, x, eps, clip=clip, spec=C)
    return -lower


def ibp_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, kappa: float,
             clip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """κ · CE(z(x), y) + (1 − κ) · CE(ẑ(ε), y) (Gowal et al., eq. 12); returns (loss, clean logits)."""
    _check_args(x, eps, clip, model)
    if not (isinstance(kappa, numbers.Real) and 0 <= kappa <= 1):
        raise ValueError(f"kappa must be a number in [0, 1], got {kappa!r}")
    logits = model(x)
    check_labels(y, len(x), num_classes=logits.shape[1])
    loss = kappa * F.cross_entropy(logits, y)
    if kappa < 1 and eps > 0:
        loss = loss + (1 - kappa) * F.cross_entropy(worst_case_logits(model, x, y, eps, clip), y)
    return loss, logits


def train_ibp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 0.2,
              epochs: int = 10, lr: float = 1e-3, batch_size: int = 100, warmup: float = 0.05,
              ramp_length: float = 0.5, kappa_end: float = 0.5, clip: bool = True,
              seed: int = 0, progress: bool = True, on_epoch_end=None) -> list[dict]:
    """Train ``model`` with the IBP loss, ε ramped from 0 to ``eps`` and κ from 1 to ``kappa_end``.

    ``warmup`` and ``ramp_length`` are shares of the whole run: ε = 0 for the first
    ``warmup``, then grows linearly for ``ramp_length``, then stays at ``eps``. Each epoch's
    record gains the ε and κ it ended with. Returns the history of
    :func:`~coursekit.train.train_classifier` (Adam with a one-cycle learning rate), which
    updates the model in place and returns it to the mode it came in.
    """
    if not (isinstance(eps, numbers.Real) and eps >= 0):
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")
    for name, value in (("warmup", warmup), ("ramp_length", ramp_length), ("kappa_end", kappa_end)):
        if not (isinstance(value, numbers.Real) and 0 <= value <= 1):
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    bound_layers(model)  # fail now, not after the first epoch, on a layer IBP cannot go through
    state = {}

    def schedule(t):
        s = ramp(t, warmup, ramp_length)
        return eps * s, 1 - (1 - kappa_end) * s

    def loss_fn(m, xb, yb, t):
        state["eps"], state["kappa"] = schedule(t)
        return ibp_loss(m, xb, yb, state["eps"], state["kappa"], clip)

    def record_schedule(record):
        record.update(eps=state.get("eps", 0.0), kappa=state.get("kappa", 1.0))
        if on_epoch_end is not None:
            on_epoch_end(record)

    return train_classifier(model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                            progress=progress, loss_fn=loss_fn, on_epoch_end=record_schedule)


# The shipped certified model: name -> (architecture, its arguments, train_ibp arguments, ε tested).
CERTIFIED_RECIPES = {
    "mnist-certified": ("mnist-cnn-small", {},
                        {"eps": 0.2, "epochs": 15, "lr": 1e-3, "batch_size": 100, "warmup": 0.05,
                         "ramp_length": 0.5, "kappa_end": 0.5}, 0.1),
}


def pretrain_certified(name: str, out=None, quick: bool = False, seed: int = 0) -> dict:
    """Train recipe ``name`` with IBP, measure it on the full MNIST test set, register it.

    Records: clean accuracy; certified accuracy at the tested ε by IBP and by Wong & Kolter;
    accuracy under PGD-40 (α = 2.5ε/40, one random start); training seconds, threads and
    the machine's load average (a shared machine slows training down); the ε/κ schedule
    and loss per epoch. ``quick`` trains 1 epoch on 512 digits and measures 256 (for tests).
    """
    import os
    import time

    from ..attacks import pgd
    from ..models import build
    from ..models.pretrained import recipe_data, register
    from ..train import accuracy
    from .adversarial import accuracy_under_attack

    arch, kwargs, train_kwargs, eps = CERTIFIED_RECIPES[name]
    x, y, x_test, y_test, train_kwargs = recipe_data(train_kwargs, quick, seed)
    model = build(arch, **kwargs)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    history = train_ibp(model, x, y, seed=seed, **train_kwargs)
    seconds = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    model.eval()
    clean = accuracy(model, x_test, y_test)
    cert_ibp = certified_accuracy(model, x_test, y_test, eps, method="ibp")
    start = time.perf_counter()
    cert_wk = certified_accuracy(model, x_test, y_test, eps, method="wong-kolter", progress=True)
    wk_seconds = time.perf_counter() - start
    g = torch.Generator().manual_seed(seed)
    pgd_acc = accuracy_under_attack(
        model, x_test, y_test, lambda m, xb, yb: pgd(m, xb, yb, eps, 2.5 * eps / 40, 40, generator=g))
    metrics = {
        "eps": eps, "test_accuracy": round(clean, 4), "certified_accuracy_ibp": round(cert_ibp, 4),
        "certified_accuracy_wong_kolter": round(cert_wk, 4), "pgd40_accuracy": round(pgd_acc, 4),
        "train_seconds": round(seconds, 1), "wong_kolter_seconds": round(wk_seconds, 1),
        "epochs": history[-1]["epoch"], "threads": torch.get_num_threads(),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "history": [{k: round(r[k], 4) for k in ("epoch", "eps", "kappa", "loss", "train_acc")}
                    for r in history],
        "n_test": len(x_test),
    }
    path = register(name, model, arch, kwargs, metrics, folder=out)
    print(f"{name}: clean {clean:.2%}, certified at eps={eps}: {cert_ibp:.2%} (IBP), "
          f"{cert_wk:.2%} (Wong-Kolter, {wk_seconds:.0f} s), PGD-40 {pgd_acc:.2%}; "
          f"{seconds:.0f} s of training on {torch.get_num_threads()} thread(s), load average "
          f"{load_before:.1f} -> {load_after:.1f} -> {path}")
    return metrics
