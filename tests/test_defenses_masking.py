"""The gradient-masking checklist (coursekit.defenses.masking), on rows written by hand: each
warning sign of Athalye et al. 2018 (§3.1) and Carlini et al. 2019 (§5) fails the check it names.
Rows measured on real models are in tests/test_defenses_scoreboard.py."""
import math

import pytest

from coursekit.defenses import masking_checklist
from coursekit.defenses.scoreboard import COLUMNS


def test_bad_arguments_say_what_they_got():
    with pytest.raises(ValueError, match="tolerance must be in"):
        masking_checklist({c: 0.0 for c in COLUMNS}, tolerance=2)


def test_masking_checklist_reads_the_warning_signs():
    ok = {"clean": 0.99, "FGSM": 0.9, "PGD-40": 0.88, "PGD-50×10": 0.87, "SPSA": 0.95,
          "transfer": 0.97, "ε=1": 0.0, "certified": math.nan}
    assert all(masking_checklist(ok).values())
    masked = {**ok, "FGSM": 0.5, "PGD-40": 0.9, "PGD-50×10": 0.97, "SPSA": 0.4, "ε=1": 0.3}
    assert not any(masking_checklist(masked).values())
    no_transfer = {**ok, "transfer": math.nan}
    assert masking_checklist(no_transfer)["black box does not beat white box"]
    within = {**ok, "PGD-50×10": ok["PGD-40"] + 0.04}        # inside the default tolerance
    assert masking_checklist(within)["more steps and restarts do not help"]
    assert not masking_checklist(within, tolerance=0.01)["more steps and restarts do not help"]


def test_the_checklist_compares_black_and_white_box_digit_by_digit():
    ok = {"clean": 0.99, "FGSM": 0.9, "PGD-40": 0.88, "PGD-50×10": 0.87, "APGD-CE": 0.86,
          "APGD-T": 0.85, "SPSA": 0.95, "Square": 0.86, "AutoAttack": 0.85, "transfer": 0.97,
          "ε=1": 0.0, "certified": math.nan, "black box alone": 0.004}
    assert all(masking_checklist(ok).values())
    assert "no digit falls to a black box alone" in masking_checklist(ok)
    # 1% of the digits fall to Square alone: flagged, although Square's column is above APGD-T's
    found = {**ok, "black box alone": 0.01}
    checks = masking_checklist(found)
    assert not checks["no digit falls to a black box alone"]
    assert checks["black box does not beat white box"]
    assert masking_checklist(found, black_box_alone=0.02)["no digit falls to a black box alone"]
    # the aggregate comparison now includes the APGD and Square columns
    assert not masking_checklist({**ok, "Square": 0.7})["black box does not beat white box"]
    with pytest.raises(ValueError, match="black_box_alone must be in"):
        masking_checklist(ok, black_box_alone=-1)
