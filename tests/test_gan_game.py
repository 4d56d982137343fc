"""The xy game of notebook 04: gradient play on f(x, y) = x·y circles or spirals, never converges."""
import math

import pytest
import torch

from coursekit.gan.game import xy_game


def test_simultaneous_steps_spiral_outward_by_the_closed_form_factor():
    # each simultaneous step is a rotation times √(1 + η²) (Goodfellow 2016, NIPS tutorial §8.2)
    lr, steps = 0.1, 200
    path = xy_game(1.0, 0.5, lr=lr, steps=steps)
    radius = path.norm(dim=1)
    assert path.shape == (steps + 1, 2) and path.dtype == torch.float64
    expected = math.hypot(1.0, 0.5) * (1 + lr ** 2) ** (torch.arange(steps + 1, dtype=torch.float64) / 2)
    torch.testing.assert_close(radius, expected, rtol=1e-12, atol=0)
    # and it goes round: the angle turns by atan(η) per step, so x changes sign along the way
    assert (path[:, 0] > 0).any() and (path[:, 0] < 0).any()


def test_alternating_steps_circle_for_ever():
    # the alternating map has determinant 1 and keeps x² + y² − η·x·y constant
    lr = 0.3
    path = xy_game(1.0, 0.0, lr=lr, steps=500, simultaneous=False)
    invariant = path[:, 0] ** 2 + path[:, 1] ** 2 - lr * path[:, 0] * path[:, 1]
    torch.testing.assert_close(invariant, torch.full_like(invariant, 1.0), rtol=1e-10, atol=1e-10)
    radius = path.norm(dim=1)
    assert radius.min() > 0.8 and radius.max() < 1.2  # neither converges nor escapes


def test_the_first_step_is_the_gradient_step():
    path = xy_game(2.0, 3.0, lr=0.5, steps=1)
    torch.testing.assert_close(path[1], torch.tensor([2.0 - 0.5 * 3.0, 3.0 + 0.5 * 2.0], dtype=torch.float64))
    alt = xy_game(2.0, 3.0, lr=0.5, steps=1, simultaneous=False)
    torch.testing.assert_close(alt[1], torch.tensor([0.5, 3.0 + 0.5 * 0.5], dtype=torch.float64))


def test_bad_arguments():
    with pytest.raises(ValueError, match="lr must be > 0"):
        xy_game(lr=0.0)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        xy_game(steps=0)
