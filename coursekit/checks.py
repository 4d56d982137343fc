"""Self-checks for exercises: when a check fails it says what was expected, what was got, and
(where the exercise knows its typical mistakes) what the likely cause is.

Every check takes optional ``likely``, a mapping from a cause to the value that mistake gives,
and ``hint``, a sentence shown when no listed cause matches::

    check_close("loss of the batch", my_loss(logits, y), expected, atol=1e-5,
                likely={"you averaged over the batch: return one loss per example "
                        "(reduction='none')": wrong_mean},
                hint="compare with F.cross_entropy(logits, y, reduction='none')")

A failing check raises ``AssertionError`` with the whole explanation; a passing one prints a
✓ line.
"""
from __future__ import annotations

import math

import torch


def _as_float(value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"expected a single number, got a tensor of shape {tuple(value.shape)}")
        return value.item()
    return float(value)


def _fail(message: str, matched: str | None, hint: str | None) -> None:
    if matched is not None:
        message += f"\n  Likely cause: {matched}"
    elif hint:
        message += f"\n  Hint: {hint}"
    raise AssertionError(message)


def _first_match(likely, matches) -> str | None:
    """The first cause in ``likely`` whose value ``matches(value)`` says the answer equals."""
    for cause, value in (likely or {}).items():
        try:
            if matches(value):
                return cause
        except (TypeError, ValueError, RuntimeError):
            continue
    return None


def check_close(name: str, got, expected, atol: float = 1e-6, rtol: float = 0.0,
                likely: dict | None = None, hint: str | None = None) -> None:
    """Raise an AssertionError that explains the mismatch unless |got − expected| ≤ atol + rtol·|expected|."""
    try:
        got_f = _as_float(got)
    except (TypeError, ValueError) as err:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else None
        matched = _first_match(likely, lambda v: isinstance(v, tuple) and v == shape)
        _fail(f"{name}: expected a number close to {expected}, got {got!r} ({err})", matched, hint)
    expected_f = _as_float(expected)

    def close(value) -> bool:
        return math.isclose(got_f, _as_float(value), abs_tol=atol, rel_tol=rtol)

    if math.isnan(got_f) or not close(expected_f):
        _fail(f"{name}: expected {expected_f:.6g} (± {atol + rtol * abs(expected_f):.2g}), got {got_f:.6g}",
              _first_match(likely, close), hint)
    print(f"✓ {name} = {got_f:.6g}")


def check_equal(name: str, got, expected, likely: dict | None = None, hint: str | None = None) -> None:
    """Raise an AssertionError that explains the mismatch unless ``got == expected``."""
    def same(value) -> bool:
        if isinstance(got, torch.Tensor) or isinstance(value, torch.Tensor):
            return torch.equal(torch.as_tensor(got), torch.as_tensor(value))
        return bool(got == value)

    if not same(expected):
        _fail(f"{name}: expected {expected!r}, got {got!r}", _first_match(likely, same), hint)
    print(f"✓ {name} = {got!r}")


def check_tensor(name: str, got, expected: torch.Tensor, atol: float = 1e-6, rtol: float = 0.0,
                 likely: dict | None = None, hint: str | None = None) -> None:
    """Check a whole tensor: its shape first, then every entry within atol + rtol·|expected|.

    A value in ``likely`` may be a tensor (the answer a mistake gives) or a shape tuple (the
    shape a mistake gives, such as ``()`` for a mean over the batch).
    """
    expected = torch.as_tensor(expected)
    if not isinstance(got, torch.Tensor):
        _fail(f"{name}: expected a tensor of shape {tuple(expected.shape)}, got {type(got).__name__} {got!r:.80}",
              None, hint)
    got_cpu, expected_cpu = got.detach().cpu(), expected.detach().cpu()

    def close(value) -> bool:
        if isinstance(value, tuple):
            return tuple(got_cpu.shape) == value
        value = torch.as_tensor(value).detach().cpu()
        return value.shape == got_cpu.shape and torch.allclose(got_cpu.double(), value.double(),
                                                               atol=atol, rtol=rtol)

    if got_cpu.shape != expected_cpu.shape:
        matched = _first_match(likely, close)
        _fail(f"{name}: expected shape {tuple(expected_cpu.shape)}, got {tuple(got_cpu.shape)}", matched, hint)
    deviation = (got_cpu.double() - expected_cpu.double()).abs()
    allowed = atol + rtol * expected_cpu.double().abs()
    if not bool((deviation <= allowed).all()):
        worst = int((deviation - allowed).flatten().argmax())
        _fail(f"{name}: {int((deviation > allowed).sum())} of {deviation.numel()} entries differ; the worst, "
              f"at flat index {worst}, is {got_cpu.flatten()[worst].item():.6g} where "
              f"{expected_cpu.flatten()[worst].item():.6g} (± {allowed.flatten()[worst].item():.2g}) is expected",
              _first_match(likely, close), hint)
    print(f"✓ {name}: all {deviation.numel()} entries match (largest difference {deviation.max().item():.2g})")
