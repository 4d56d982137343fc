"""What the contract tests compare before and after a call: a model's state, modes, gradients and
``requires_grad`` flags, and the global random states (Python, NumPy, torch)."""
from __future__ import annotations

import random

import numpy as np
import torch


def snapshot_model(model):
    """(state_dict copy, train flags, .grad of each parameter) of a module."""
    return ({k: v.clone() for k, v in model.state_dict().items()},
            [m.training for m in model.modules()],
            [p.grad for p in model.parameters()])


def requires_grad_flags(model):
    return [p.requires_grad for p in model.parameters()]


def global_states():
    return random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()


def same_states(a, b):
    return a[0] == b[0] and (a[1] == b[1]).all() and torch.equal(a[2], b[2])
