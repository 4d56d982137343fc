"""coursekit.checks: the self-check helpers every exercise uses, and the causes they name."""
import math

import pytest
import torch

from coursekit.checks import check_close, check_equal, check_tensor

CAUSES = {"you averaged over the batch": 0.5, "you flipped the sign": -1.0}


def test_check_close_passes_and_prints(capsys):
    check_close("x", 1.0 + 1e-7, 1.0)
    assert capsys.readouterr().out.startswith("✓ x = 1")


def test_check_close_names_the_matching_cause():
    with pytest.raises(AssertionError, match=r"expected 1 .*got -1\n  Likely cause: you flipped the sign"):
        check_close("x", -1.0, 1.0, likely=CAUSES)


def test_check_close_falls_back_to_the_hint_when_no_cause_matches():
    with pytest.raises(AssertionError, match=r"got 7\n  Hint: read the docstring$"):
        check_close("x", 7.0, 1.0, likely=CAUSES, hint="read the docstring")


def test_check_close_without_cause_or_hint_still_says_expected_and_got():
    with pytest.raises(AssertionError, match=r"^x: expected 1 \(± 1e-06\), got 2$"):
        check_close("x", 2.0, 1.0)


def test_nan_never_passes():
    with pytest.raises(AssertionError, match="got nan"):
        check_close("x", math.nan, 1.0, atol=math.inf)


def test_a_tensor_where_a_number_is_expected_names_a_shape_cause():
    with pytest.raises(AssertionError, match="Likely cause: one value per example"):
        check_close("x", torch.ones(3), 1.0, likely={"one value per example": (3,)})


def test_check_equal_cause_and_tensors():
    check_equal("t", torch.tensor([1, 2]), torch.tensor([1, 2]))
    with pytest.raises(AssertionError, match="Likely cause: off by one"):
        check_equal("n", 9, 10, likely={"off by one": 9})


def test_check_tensor_shape_first_then_values():
    expected = torch.arange(4.0)
    check_tensor("v", expected + 1e-8, expected)
    with pytest.raises(AssertionError, match=r"expected shape \(4,\), got \(\)\n  Likely cause: mean"):
        check_tensor("v", expected.mean(), expected, likely={"mean": ()})
    with pytest.raises(AssertionError, match=r"(?s)1 of 4 entries differ.*index 2, is 9 where 2 .*Likely cause: typo"):
        wrong = expected.clone()
        wrong[2] = 9
        check_tensor("v", wrong, expected, likely={"typo": wrong.clone()})
    with pytest.raises(AssertionError, match="expected a tensor of shape"):
        check_tensor("v", [0, 1, 2, 3], expected)
