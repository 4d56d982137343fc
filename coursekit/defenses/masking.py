"""The course's one gradient-masking checklist: the warning signs of a defense that only hides its
gradient, read off a row of the defenses × attacks table.

A defense that masks its gradient (Papernot et al. 2017; Athalye, Carlini & Wagner 2018)
defeats the gradient attacks without being robust; it gives itself away in the numbers of a
row that has an iterative attack beside a single step, restarts, black-box and transfer
attacks and an unbounded one (Athalye et al. 2018, §3.1; Carlini et al. 2019, "On Evaluating
Adversarial Robustness", §5). :func:`masking_checklist` turns those numbers into pass/fail
checks. The row comes from :func:`coursekit.defenses.scoreboard.evaluate_defense`;
:func:`~coursekit.defenses.scoreboard.defense_table` attaches the checklist to every row, and
:func:`~coursekit.defenses.scoreboard.gradient_masking_checks` measures one row for one model
and reads it.
"""
from __future__ import annotations

import math

# the table's columns that the checks compare (see coursekit.defenses.scoreboard)
WHITE_BOX = ("FGSM", "PGD-40", "PGD-50×10", "APGD-CE", "APGD-T")     # gradient attacks
BLACK_BOX = ("SPSA", "Square", "transfer")                            # no gradient of the system


def masking_checklist(row: dict, tolerance: float = 0.05, black_box_alone: float = 0.005) -> dict:
    """The course's gradient-masking checklist: the warning signs (Athalye et al. 2018, §3.1;
    Carlini et al. 2019, §5) read off a row of :func:`evaluate_defense`; True means passed.

    * iterative attacks beat a single step: PGD-40 ≤ FGSM;
    * more steps and restarts do not help the defender: PGD-50×10 ≤ PGD-40;
    * black box does not beat white box: every black-box column (SPSA, Square, transfer) ≥ the
      best iterative white-box one (PGD, APGD-CE, APGD-T);
    * and digit by digit (rows measured with the AutoAttack columns): at most a share
      ``black_box_alone`` (0.5%) of the digits fall to a black-box attack while every
      white-box attack failed on them. Each such digit is a finding: the gradient missed an
      adversarial example that a search without gradients found;
    * an unbounded attack wins: accuracy at ε = 1 is 0.

    The aggregate comparisons allow ``tolerance`` (sampling noise on a few digits, a random
    defense). A check whose columns the row lacks (NaN) is left out.
    """
    for name, value in (("tolerance", tolerance), ("black_box_alone", black_box_alone)):
        if not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")

    def measured(c):
        return c in row and not math.isnan(row[c])

    white = min(row[c] for c in WHITE_BOX if c != "FGSM" and measured(c))   # iterative ones
    black = [row[c] for c in BLACK_BOX if measured(c)]
    checks = {
        "iterative beats one step": row["PGD-40"] <= row["FGSM"] + tolerance,
        "more steps and restarts do not help": row["PGD-50×10"] <= row["PGD-40"] + tolerance,
        "black box does not beat white box": min(black) >= white - tolerance,
    }
    if measured("black box alone"):
        checks["no digit falls to a black box alone"] = row["black box alone"] <= black_box_alone
    checks["accuracy reaches 0 at ε = 1"] = row["ε=1"] <= tolerance
    return checks
