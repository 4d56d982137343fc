"""One table of defenses × attacks, and the gradient-masking checklist read off each row.

Carlini et al. 2019 ("On Evaluating Adversarial Robustness", §4-§5) ask an evaluation to
report, for one threat model (here L∞, ε), the strongest *adaptive* attack, an iterative
attack beside a single step, many steps and random restarts, a gradient-free attack and a
transfer attack, and to read the warning signs of gradient masking off those numbers
(Athalye, Carlini & Wagner 2018, §3.1). :func:`evaluate_defense` measures one row:

==============  ===========================================================================
column          the attack (on the system as the attacker sees it, see :class:`Defense`)
==============  ===========================================================================
clean           none
FGSM            one step of ε along the sign of the gradient (Goodfellow et al. 2015)
PGD-40          40 steps of α = 0.01 from a random start (Madry et al. 2018, MNIST)
PGD-50×10       50 steps of α = 0.01, 10 random restarts: a digit counts as broken when any
                restart breaks it (Wong, Rice & Kolter 2020's MNIST evaluation)
SPSA            gradient-free, scores only (Uesato et al. 2018), its queries counted
transfer        examples forged on another model, handed over as they are (Papernot et al.)
ε=1             PGD-20 with ε = 1, where any image is reachable (must give 0)
certified       share of digits proven robust at ``cert_eps`` (IBP, or Wong & Kolter)
==============  ===========================================================================

and :func:`masking_checklist` turns a row into pass/fail checks. "Accuracy" means the share of
digits on which the *defender* wins: classified correctly, or, for a detector system
(:class:`~coursekit.defenses.detector.RejectOrClassify`), rejected when attacked (Carlini &
Wagner 2017 count an attack as successful only when it is accepted and wrong). On clean
digits a rejection is an error.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks import QueryCounter, eot_pgd, no_transform, pgd, spsa
from ..attacks._common import check_attack_args, check_positive, eval_mode, predict_labels
from .certify import METHODS, certified_accuracy
from .detector import RejectOrClassify, runner_up

COLUMNS = ("clean", "FGSM", "PGD-40", "PGD-50×10", "SPSA", "transfer", "ε=1", "certified")


@dataclass(frozen=True)
class AttackBudget:
    """The attacks of the table and their settings (paper defaults for MNIST at ε = 0.3)."""

    eps: float = 0.3
    pgd_steps: int = 40            # Madry et al. 2018: 40 steps of 0.01
    pgd_alpha: float = 0.01
    strong_steps: int = 50         # Wong et al. 2020: 50 steps of 0.01, 10 restarts
    strong_alpha: float = 0.01
    restarts: int = 10
    spsa_steps: int = 40           # SPSA steps of 2·samples + 1 queries each, step ε/5
    spsa_samples: int = 64
    unbounded_steps: int = 20      # the ε = 1 check, α = 2.5/steps
    cert_eps: float = 0.1

    def __post_init__(self):
        for name in ("eps", "pgd_alpha", "strong_alpha", "cert_eps"):
            check_positive(name, getattr(self, name))
        for name in ("pgd_steps", "strong_steps", "restarts", "spsa_steps", "spsa_samples",
                     "unbounded_steps"):
            check_positive(name, getattr(self, name), integer=True)

    def labels(self) -> dict:
        """Column name -> a short description with this budget's numbers (for table headers)."""
        return {"clean": "clean", "FGSM": "FGSM", "PGD-40": f"PGD-{self.pgd_steps}",
                "PGD-50×10": f"PGD-{self.strong_steps}×{self.restarts}",
                "SPSA": f"SPSA ({self.spsa_steps * (2 * self.spsa_samples + 1):,} q)",
                "transfer": "transfer", "ε=1": "ε = 1",
                "certified": f"certified ε={self.cert_eps:g}"}


@dataclass
class Defense:
    """One row of the table: a defended system and how an adaptive attacker sees it.

    ``model`` is the system as deployed: every column scores its predictions. Gradient attacks
    differentiate ``attacked_as`` instead when given (the BPDA twin of a front end: same
    outputs, a usable gradient). ``eot`` > 1 marks a randomised system: each gradient step
    averages ``eot`` draws of its randomness (EOT, Athalye et al. 2018). A
    :class:`RejectOrClassify` system is attacked jointly: targeted at the classifier's runner-up
    class through its K + 1 outputs (Carlini & Wagner 2017). ``certify`` ("ibp" or
    "wong-kolter") names the bound used for the certified column; None where none applies.
    ``train_seconds`` and ``trained`` (where the figure comes from) fill the time column.
    """

    name: str
    model: nn.Module
    attacked_as: nn.Module | None = None
    eot: int = 1
    certify: str | None = None
    train_seconds: float | None = None
    trained: str = ""
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        check_positive("eot", self.eot, integer=True)
        if self.certify is not None and self.certify not in METHODS:
            raise ValueError(f"certify must be None or one of {METHODS}, got {self.certify!r}")

    @property
    def is_detector(self) -> bool:
        return isinstance(self.model, RejectOrClassify)


def defender_wins(defense: Defense, x: torch.Tensor, y: torch.Tensor, attacked: bool = True
                  ) -> torch.Tensor:
    """Per digit, True when the system gets it right (or rejects it, if ``attacked``)."""
    with eval_mode(defense.model):
        pred = predict_labels(defense.model, x)
    wins = pred == y
    if attacked and defense.is_detector:
        wins |= pred == defense.model.reject_class
    return wins


def _attack_labels(defense: Defense, x: torch.Tensor, y: torch.Tensor):
    """(labels, targeted) for the attack: y, or the runner-up class against a detector system."""
    if defense.is_detector:
        return runner_up(defense.model.classifier, x, y), True
    return y, False


def white_box(defense: Defense, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
              steps: int, random_start: bool = True,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The adaptive gradient attack on ``defense``: L∞ PGD on ``attacked_as`` (EOT-PGD, from x,
    when the system is random), joint and targeted when it is a detector system."""
    net = defense.attacked_as if defense.attacked_as is not None else defense.model
    labels, targeted = _attack_labels(defense, x, y)
    if defense.eot > 1:
        return eot_pgd(net, x, labels, eps, alpha, steps, samples=defense.eot, targeted=targeted,
                       transform=no_transform, generator=generator)
    return pgd(net, x, labels, eps, alpha, steps, random_start=random_start, targeted=targeted,
               generator=generator)


def accuracy_with_restarts(defense: Defense, x: torch.Tensor, y: torch.Tensor, eps: float,
                           alpha: float, steps: int, restarts: int,
                           generator: torch.Generator | None = None) -> float:
    """Share of digits that survive every one of ``restarts`` runs of :func:`white_box`.

    Restart r runs only on the digits that survived restarts 1..r−1: the count is the same as
    running all of them on every digit ("broken when any restart breaks it"), for less work.
    """
    alive = defender_wins(defense, x, y, attacked=False).nonzero().flatten()
    for _ in range(restarts):
        if len(alive) == 0:
            break
        x_adv = white_box(defense, x[alive], y[alive], eps, alpha, steps, True, generator)
        alive = alive[defender_wins(defense, x_adv, y[alive])]
    return len(alive) / len(x)


def _share(wins: torch.Tensor) -> float:
    return wins.float().mean().item()


def evaluate_defense(defense: Defense, x: torch.Tensor, y: torch.Tensor,
                     x_transfer: torch.Tensor | None = None,
                     budget: AttackBudget = AttackBudget(), seed: int = 0,
                     batch_size: int = 500) -> dict:
    """One row of the table: accuracy under every attack of ``budget`` (see the module's table),
    the SPSA queries per digit, seconds spent, and the PGD-40 examples (``x_pgd40``, to hand
    to other defenses as a transfer attack). ``x_transfer`` holds examples forged on another
    model for these very digits (None: no transfer column). Seeded: the random starts and the
    defense's own randomness are drawn from ``seed``.
    """
    check_attack_args(x, y, budget.eps, defense.model)
    if x_transfer is not None and x_transfer.shape != x.shape:
        raise ValueError(f"x_transfer must have the shape of x {tuple(x.shape)}, "
                         f"got {tuple(x_transfer.shape)}")
    check_positive("batch_size", batch_size, integer=True)
    b, start = budget, time.perf_counter()
    row = {c: 0.0 for c in COLUMNS[:-1]}
    queries, x_pgd40 = 0, []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        for xb, yb, tb in zip(x.split(batch_size), y.split(batch_size),
                              (x_transfer if x_transfer is not None else x).split(batch_size)):
            w = len(xb) / len(x)
            row["clean"] += w * _share(defender_wins(defense, xb, yb, attacked=False))
            x_adv = white_box(defense, xb, yb, b.eps, b.eps, 1, random_start=False, generator=g)
            row["FGSM"] += w * _share(defender_wins(defense, x_adv, yb))
            x_adv = white_box(defense, xb, yb, b.eps, b.pgd_alpha, b.pgd_steps, generator=g)
            row["PGD-40"] += w * _share(defender_wins(defense, x_adv, yb))
            x_pgd40.append(x_adv)
            row["PGD-50×10"] += w * accuracy_with_restarts(defense, xb, yb, b.eps, b.strong_alpha,
                                                           b.strong_steps, b.restarts, g)
            box = QueryCounter(defense.model)          # scores only, every query counted
            labels, targeted = _attack_labels(defense, xb, yb)
            x_adv = spsa(box, xb, labels, b.eps, alpha=b.eps / 5, samples=b.spsa_samples,
                         max_queries=b.spsa_steps * (2 * b.spsa_samples + 1), targeted=targeted,
                         generator=g)
            row["SPSA"] += w * _share(defender_wins(defense, x_adv, yb))
            queries += box.queries
            row["transfer"] += w * _share(defender_wins(defense, tb, yb)) \
                if x_transfer is not None else math.nan
            x_adv = white_box(defense, xb, yb, 1.0, 2.5 / b.unbounded_steps, b.unbounded_steps,
                              generator=g)
            row["ε=1"] += w * _share(defender_wins(defense, x_adv, yb))
    row["certified"] = certified_accuracy(defense.model, x, y, b.cert_eps, method=defense.certify) \
        if defense.certify is not None else math.nan
    row["spsa_queries_per_digit"] = queries / len(x)
    row["x_pgd40"] = torch.cat(x_pgd40)
    row["eval_seconds"] = time.perf_counter() - start
    return row


def masking_checklist(row: dict, tolerance: float = 0.05) -> dict:
    """The warning signs of gradient masking (Athalye et al. 2018, §3.1; Carlini et al. 2019,
    §5), read off a row of :func:`evaluate_defense`; True means the check passed.

    * iterative attacks beat a single step: PGD-40 ≤ FGSM;
    * more steps and restarts do not help the defender: PGD-50×10 ≤ PGD-40;
    * black box does not beat white box: SPSA and transfer ≥ the best white-box attack;
    * an unbounded attack wins: accuracy at ε = 1 is 0.

    Each comparison allows ``tolerance`` (sampling noise on a few digits, a random defense).
    """
    if not (0 <= tolerance <= 1):
        raise ValueError(f"tolerance must be in [0, 1], got {tolerance!r}")
    white = min(row["PGD-40"], row["PGD-50×10"])
    black = [row["SPSA"]] + ([] if math.isnan(row["transfer"]) else [row["transfer"]])
    return {
        "iterative beats one step": row["PGD-40"] <= row["FGSM"] + tolerance,
        "more steps and restarts do not help": row["PGD-50×10"] <= row["PGD-40"] + tolerance,
        "black box does not beat white box": min(black) >= white - tolerance,
        "accuracy reaches 0 at ε = 1": row["ε=1"] <= tolerance,
    }


def defense_table(defenses: list[Defense], x: torch.Tensor, y: torch.Tensor,
                  x_transfer: torch.Tensor | None = None, budget: AttackBudget = AttackBudget(),
                  seed: int = 0, tolerance: float = 0.05, progress: bool = True) -> list[dict]:
    """:func:`evaluate_defense` for every defense; each row also gets ``name``,
    ``train_seconds``, ``trained`` and its :func:`masking_checklist` (``checks``)."""
    rows = []
    for d in tqdm(defenses, desc="defenses", disable=not progress, leave=False):
        row = evaluate_defense(d, x, y, x_transfer, budget, seed)
        row.update(name=d.name, train_seconds=d.train_seconds, trained=d.trained,
                   checks=masking_checklist(row, tolerance))
        rows.append(row)
    return rows


def format_table(rows: list[dict], budget: AttackBudget = AttackBudget()) -> str:
    """The table as Markdown: accuracies in %, "—" where a column does not apply, training
    time, and the checks that failed (``IPython.display.Markdown`` shows it in a notebook)."""
    labels = budget.labels()
    head = ["defense"] + [labels[c] for c in COLUMNS] + ["training", "masking checks"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["name"]] + ["—" if math.isnan(r[c]) else f"{r[c]:.0%}" for c in COLUMNS]
        t = r["train_seconds"]
        seconds = "—" if t is None else f"{t:,.1f} s" if t < 10 else f"{t:,.0f} s"
        cells.append(f"{seconds} ({r['trained']})" if t is not None and r["trained"] else seconds)
        failed = [name for name, ok in r["checks"].items() if not ok]
        cells.append("ok" if not failed else "**FAILED**: " + "; ".join(failed))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
