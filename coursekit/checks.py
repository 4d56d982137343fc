"""Self-checks for exercises: when a check fails it says what was expected and what was got."""
from __future__ import annotations

import math

import torch


def _as_float(value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"expected a single number, got a tensor of shape {tuple(value.shape)}")
        return value.item()
    return float(value)


def check_close(name: str, got, expected, atol: float = 1e-6, rtol: float = 0.0) -> None:
    """Raise an AssertionError that explains the mismatch unless |got − expected| ≤ atol + rtol·|expected|."""
    try:
        got_f = _as_float(got)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{name}: expected a number close to {expected}, got {got!r} ({err})") from None
    expected_f = _as_float(expected)
    if not math.isclose(got_f, expected_f, abs_tol=atol, rel_tol=rtol):
        raise AssertionError(f"{name}: expected {expected_f:.6g} (± {atol + rtol * abs(expected_f):.2g}), "
                             f"got {got_f:.6g}")
    print(f"✓ {name} = {got_f:.6g}")


def check_equal(name: str, got, expected) -> None:
    """Raise an AssertionError that explains the mismatch unless ``got == expected``."""
    if isinstance(got, torch.Tensor) or isinstance(expected, torch.Tensor):
        same = torch.equal(torch.as_tensor(got), torch.as_tensor(expected))
    else:
        same = got == expected
    if not same:
        raise AssertionError(f"{name}: expected {expected!r}, got {got!r}")
    print(f"✓ {name} = {got!r}")
