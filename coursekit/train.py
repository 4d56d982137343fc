"""Training and evaluating classifiers: minibatch SGD with a progress bar and checkpoints.

The data are tensors already in memory (MNIST is 47 MB as uint8), so batches are plain
index slices rather than a DataLoader with worker processes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .modes import eval_mode, train_mode
from .validate import (check_class_labels, check_finite, check_generator, check_labels,
                       check_nonempty, check_positive)

__all__ = ["EVAL_BATCH", "batches", "predict", "accuracy", "train_classifier", "random_shift"]

EVAL_BATCH = 128
"""Images per forward pass when a network only evaluates (predict, features, G's samples).
On a CPU a batch this size keeps a small network's activations in the cache: 1,000 at a time
gave the same numbers bit for bit, about twice as slowly for the course's CNN and DCGAN
(``python -m benchmarks classifier``)."""


def batches(n: int, batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Index tensors covering range(n) in chunks of ``batch_size`` (shuffled if asked)."""
    check_positive("n", n, integer=True, allow_zero=True)
    check_positive("batch_size", batch_size, integer=True)
    check_generator(generator)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    yield from order.split(batch_size)


def _check_batch(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")


def _check_xy(x: torch.Tensor, y: torch.Tensor) -> None:
    _check_batch(x)
    check_nonempty(x)
    check_finite("x", x)
    check_labels(y, len(x))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Logits of ``model`` on ``x``, computed in eval mode; the model's mode is restored after."""
    device = next(model.parameters()).device
    with eval_mode(model):
        if not len(x):                       # an empty batch: an empty result, shaped by the model
            return model(x.to(device))
        return torch.cat([model(x[i].to(device)) for i in batches(len(x), batch_size)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH) -> float:
    """Share of ``x`` that ``model`` labels as ``y`` (a float in [0, 1])."""
    _check_xy(x, y)
    logits = predict(model, x, batch_size)
    check_class_labels(y, logits.shape[1])
    return (logits.argmax(1).cpu() == y.cpu()).float().mean().item()


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 3,
    lr: float = 3e-3,
    batch_size: int = 128,
    weight_decay: float = 0.0,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict], None] | None = None,
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor, float],
                      tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> list[dict]:
    """Train ``model`` with Adam and a one-cycle learning rate; return per-epoch history.
    The model is updated in place and returned to the mode it came in (each submodule's flag).

    With ``checkpoint`` set, the model, optimiser, schedule and random state are saved after
    every epoch, and a run started with an existing checkpoint resumes where it stopped.
    ``augment(x, generator)`` may transform each batch (it must keep shapes and [0, 1]);
    ``on_epoch_end(record)`` is called after each epoch (and after its checkpoint is saved).
    ``loss_fn(model, xb, yb, t)`` replaces the cross-entropy of a batch (adversarial training
    uses it): it returns (loss, logits), and ``train_acc`` counts those logits; ``t`` in [0, 1)
    is the share of training done before this batch, for schedules such as an ε ramp.
    """
    _check_xy(x, y)
    check_positive("epochs", epochs, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    check_positive("lr", lr)
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    steps_per_epoch = -(-len(x) // batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    history: list[dict] = []
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        g.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])  # dropout draws from the global generator
        history, start = state["history"], state["epoch"]

    with train_mode(model):   # and back to the mode it came in
        for epoch in range(start, epochs):
            model.train()
            total_loss, correct, seen = 0.0, 0, 0
            bar = tqdm(batches(len(x), batch_size, shuffle=True, generator=g), total=steps_per_epoch,
                       desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
            for i, idx in enumerate(bar):
                xb, yb = x[idx].to(device), y[idx].to(device)
                if augment is not None:
                    xb = augment(xb, g)
                if loss_fn is None:
                    logits = model(xb)
                    check_class_labels(yb, logits.shape[1])
                    loss = F.cross_entropy(logits, yb)
                else:
                    t = (epoch * steps_per_epoch + i) / (epochs * steps_per_epoch)
                    loss, logits = loss_fn(model, xb, yb, t)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total_loss += loss.item() * len(idx)
                correct += (logits.argmax(1) == yb).sum().item()
                seen += len(idx)
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
            record = {"epoch": epoch + 1, "loss": total_loss / seen, "train_acc": correct / seen}
            history.append(record)
            if progress:
                tqdm.write(f"epoch {epoch + 1}/{epochs}: loss {record['loss']:.4f}, "
                           f"train accuracy {record['train_acc']:.2%}")
            if checkpoint is not None:
                torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                            "scheduler": sched.state_dict(), "generator": g.get_state(),
                            "torch_rng": torch.get_rng_state(), "history": history,
                            "epoch": epoch + 1}, checkpoint)
            if on_epoch_end is not None:
                on_epoch_end(record)
    return history


def random_shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Augmentation: translate each image by up to ``max_shift`` pixels (zero fill)."""
    _check_batch(x)
    check_generator(g, "g")
    check_positive("max_shift", max_shift, integer=True, allow_zero=True)
    if not len(x):
        return x.clone()
    n, _, h, w = x.shape
    padded = F.pad(x, [max_shift] * 4)
    dx, dy = (torch.randint(0, 2 * max_shift + 1, (2, n), generator=g)).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
