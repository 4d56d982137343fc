"""What a function borrows from the caller's modules, and gives back: modes and gradient flags.

A training loop needs its networks in train mode, an attack needs its model in eval mode, and
G's update must not fill D's gradients. Each context manager below sets what the block needs
on every submodule (or parameter) and, on the way out, puts back each flag exactly as the
caller had it: a model that came in eval mode leaves in eval mode, a layer the caller had
frozen stays frozen, even when the block raises.
"""
from __future__ import annotations

from contextlib import contextmanager

from torch import nn

__all__ = ["eval_mode", "train_mode", "frozen"]


@contextmanager
def _modes(modules, training: bool):
    nets = [m for m in modules if isinstance(m, nn.Module)]  # a plain callable has no mode
    flags = [(m, m.training) for net in nets for m in net.modules()]
    for net in nets:
        net.train(training)
    try:
        yield modules[0] if len(modules) == 1 else modules
    finally:
        for m, flag in flags:
            m.training = flag


def eval_mode(*modules: nn.Module):
    """Run the block with ``modules`` in eval mode (batch-norm statistics fixed, dropout off),
    so an attack neither changes the model's buffers nor sees a randomised network."""
    return _modes(modules, False)


def train_mode(*modules: nn.Module):
    """Run the block with ``modules`` in train mode: a training loop's networks, returned to
    the caller in the mode they came in."""
    return _modes(modules, True)


@contextmanager
def frozen(*modules: nn.Module):
    """Inside the block no parameter of ``modules`` requires a gradient (G's update flows
    through D without filling D's ``.grad``); after it every flag is as it was, so a layer the
    caller had frozen stays frozen."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
