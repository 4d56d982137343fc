"""The smallest game: f(x, y) = x·y, where x minimises and y maximises.

Its only equilibrium is (0, 0): there ∂f/∂x = y = 0 and ∂f/∂y = x = 0, and neither player gains
by moving alone. Gradient play does not find it (Goodfellow 2016, "NIPS 2016 Tutorial:
Generative Adversarial Networks", §8.2 and Fig. 22; Mescheder et al. 2017, "The Numerics of
GANs"). With learning rate η:

    simultaneous:  x ← x − η·y,  y ← y + η·x        (both use the old point)
    alternating:   x ← x − η·y,  then y ← y + η·x   (y sees the new x)

The simultaneous step is a rotation times √(1 + η²), so the distance to the equilibrium grows
by that factor at every step: the players spiral outward. The alternating step has
determinant 1 and keeps x² + y² − η·x·y constant: the players circle for ever. Neither
converges, although each player follows its own gradient exactly. A GAN's D and G are the
same two players in many dimensions.
"""
from __future__ import annotations

import torch


def xy_game(x0: float = 1.0, y0: float = 1.0, lr: float = 0.1, steps: int = 100,
            simultaneous: bool = True) -> torch.Tensor:
    """Gradient play on f(x, y) = x·y from (x0, y0): x descends, y ascends; the gradients come
    from autograd on f. Returns the trajectory, shape (steps + 1, 2), float64."""
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    x = torch.tensor(float(x0), dtype=torch.float64, requires_grad=True)
    y = torch.tensor(float(y0), dtype=torch.float64, requires_grad=True)
    path = [(x.item(), y.item())]
    for _ in range(steps):
        grad_x, grad_y = torch.autograd.grad(x * y, (x, y))
        with torch.no_grad():
            x -= lr * grad_x
        if not simultaneous:  # y answers the x that has just moved
            (grad_y,) = torch.autograd.grad(x * y, y)
        with torch.no_grad():
            y += lr * grad_y
        path.append((x.item(), y.item()))
    return torch.tensor(path, dtype=torch.float64)
