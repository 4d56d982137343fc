"""The linear explanation in exact arithmetic: the lecture's board example and the dimension demo.

Goodfellow, Shlens & Szegedy 2015, "Explaining and Harnessing Adversarial Examples", §3:
for a linear score ŷ = wᵀx + b and a perturbation η with ‖η‖∞ ≤ ε,

    wᵀ(x + η) = wᵀx + wᵀη,   max_{‖η‖∞ ≤ ε} wᵀη = ε‖w‖₁   at η = ε·sign(w)        (eq. of §3)

so the score moves by ε‖w‖₁, which grows with the number of inputs n (≈ ε·m·n for an average
weight magnitude m) while no input moves by more than ε.

Symbols: ``w``, ``b``, ``x`` as in the lecture's board example; ``eps`` is ε; ``x_star`` is
x* = x + ε·wᵀ and ``x_sign`` is x + ε·sign(w).

1. :func:`board_example`: the lecture's six-input example, in exact rational arithmetic.
2. :func:`linear_dimension_demo`: ε‖w‖₁ against the number of inputs (behind the widget of
   ``coursekit.widgets.linear``).

Neighbours: the experiments on trained models are in ``experiments.py``, the models they
compare in ``models.py``, their figures in ``plots.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from numbers import Rational
from typing import Sequence

import torch


BOARD_W = (1, 3, -1, 2, 2, 3)
BOARD_B = 0
BOARD_X = (1, -1, 2, 0, 3, -2)
BOARD_EPS = Fraction(1, 5)  # ε = 0.2


def exact(value) -> Fraction:
    """``value`` as an exact Fraction: ints and Fractions as they are, floats and strings through
    their decimal text (0.2 → 1/5, not the binary double 0.2000000000000000111…)."""
    if isinstance(value, bool) or not isinstance(value, (Rational, float, str)):
        raise TypeError(f"expected a number (int, Fraction, float or decimal string), got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        value = repr(value)
    return Fraction(value)


def _vector(v, name: str) -> tuple[Fraction, ...]:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of numbers, got {v!r}")
    return tuple(exact(a) for a in v)


def _same_length(w, x) -> None:
    if len(w) != len(x):
        raise ValueError(f"w and x must have the same length, got {len(w)} and {len(x)}")


def _check_eps(eps) -> Fraction:
    eps = exact(eps)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    return eps


def linear_output(w, x, b=0) -> Fraction:
    """ŷ = wᵀx + b, exactly (the lecture's linear regression, no activation)."""
    w, x = _vector(w, "w"), _vector(x, "x")
    _same_length(w, x)
    return sum((wi * xi for wi, xi in zip(w, x)), exact(b))


def sign(v) -> tuple[int, ...]:
    """sign(v) coordinate-wise, with sign(0) = 0 (as torch.sign)."""
    return tuple((a > 0) - (a < 0) for a in _vector(v, "v"))


def step_along_w(x, w, eps) -> tuple[Fraction, ...]:
    """x* = x + ε·wᵀ: the step along the gradient ∂ŷ/∂x = wᵀ. Then ŷ* = ŷ + ε‖w‖₂²."""
    w, x, eps = _vector(w, "w"), _vector(x, "x"), _check_eps(eps)
    _same_length(w, x)
    return tuple(xi + eps * wi for xi, wi in zip(x, w))


def step_along_sign(x, w, eps) -> tuple[Fraction, ...]:
    """x + ε·sign(w): the best step with ‖η‖∞ ≤ ε. Then ŷ rises by ε‖w‖₁ (Goodfellow et al. §3)."""
    w, x, eps = _vector(w, "w"), _vector(x, "x"), _check_eps(eps)
    _same_length(w, x)
    return tuple(xi + eps * si for xi, si in zip(x, sign(w)))


@dataclass(frozen=True)
class BoardExample:
    """Every number of the board example; all exact Fractions."""
    eps: Fraction
    y_hat: Fraction                 # ŷ = wᵀx + b
    x_star: tuple[Fraction, ...]    # x + ε·wᵀ
    y_star: Fraction                # ŷ* = ŷ + ε‖w‖₂²
    x_sign: tuple[Fraction, ...]    # x + ε·sign(w)
    y_sign: Fraction                # ŷ + ε‖w‖₁
    w_sq: Fraction                  # ‖w‖₂² = wᵀw
    w_l1: Fraction                  # ‖w‖₁
    max_move_star: Fraction         # ‖x* − x‖∞ = ε·max|wᵢ|
    max_move_sign: Fraction         # ‖x_sign − x‖∞ = ε (if w has a nonzero entry)


def board_example(w=BOARD_W, x=BOARD_X, b=BOARD_B, eps=BOARD_EPS) -> BoardExample:
    """The lecture's board example. With the defaults: ŷ = −4, ŷ* = −4 + 0.2·28 = 8/5 = 1.6
    (the board's hand arithmetic reached 0.5), and ŷ after the sign step = −4 + 0.2·12 = −8/5."""
    w, x, eps = _vector(w, "w"), _vector(x, "x"), _check_eps(eps)
    _same_length(w, x)
    x_star, x_sign = step_along_w(x, w, eps), step_along_sign(x, w, eps)
    return BoardExample(
        eps=eps, y_hat=linear_output(w, x, b),
        x_star=x_star, y_star=linear_output(w, x_star, b),
        x_sign=x_sign, y_sign=linear_output(w, x_sign, b),
        w_sq=sum(wi * wi for wi in w), w_l1=sum(abs(wi) for wi in w),
        max_move_star=max(abs(a - c) for a, c in zip(x_star, x)),
        max_move_sign=max(abs(a - c) for a, c in zip(x_sign, x)),
    )


# ---------------------------------------------------------------------------------------------
# 2. The dimension argument on a random linear model (the widget's model)
# ---------------------------------------------------------------------------------------------

def linear_dimension_demo(n: int, eps: float, seed: int = 0, max_n: int = 4096) -> dict:
    """A linear score ŷ = wᵀx on ``n`` inputs, w and x drawn N(0, 1) from ``seed``, attacked by
    x + ε·sign(w). Coordinates are the first n of fixed length-``max_n`` draws, so raising n
    only adds inputs. Returns ŷ before and after, the change ε‖w‖₁ (expected ε·n·√(2/π)),
    and the largest move of a single input (ε)."""
    if not (isinstance(n, int) and 1 <= n <= max_n):
        raise ValueError(f"n must be an int in 1..{max_n}, got {n!r}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(max_n, generator=g, dtype=torch.float64)[:n]
    x = torch.randn(max_n, generator=g, dtype=torch.float64)[:n]
    x_adv = x + eps * w.sign()
    return {"n": n, "eps": eps, "y_hat": (w @ x).item(), "y_adv": (w @ x_adv).item(),
            "change": eps * w.abs().sum().item(), "expected_change": eps * n * math.sqrt(2 / math.pi),
            "max_move": (x_adv - x).abs().max().item()}
