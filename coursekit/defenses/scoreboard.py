"""One table of defenses × attacks: each row a defense, each column an attack that knows it.

Carlini et al. 2019 ("On Evaluating Adversarial Robustness", §4-§5) ask an evaluation to
report, for one threat model (here L∞, ε), the strongest *adaptive* attack, an iterative
attack beside a single step, many steps and random restarts, a gradient-free attack and a
transfer attack, and to read the warning signs of gradient masking off those numbers (the
checklist of :mod:`~coursekit.defenses.masking`). :func:`evaluate_defense` measures one row:

==============  ===========================================================================
column          the attack (on the system as the attacker sees it, see :class:`Defense`)
==============  ===========================================================================
clean           none
FGSM            one step of ε along the sign of the gradient (Goodfellow et al. 2015)
PGD-40          40 steps of α = 0.01 from a random start (Madry et al. 2018, MNIST)
PGD-50×10       50 steps of α = 0.01, 10 random restarts: a digit counts as broken when any
                restart breaks it (Wong, Rice & Kolter 2020's MNIST evaluation)
APGD-CE         APGD on the cross-entropy, 100 steps (Croce & Hein 2020)       } with
APGD-T          APGD on the targeted DLR loss, 9 target classes × 100 steps    } ``autoattack``
Square          the Square attack, scores only, 5,000 queries (Andriushchenko   } on
                et al. 2020)                                                    }
AutoAttack      the digits that survive APGD-CE, APGD-T and Square: robust      }
                accuracy as the field reports it
SPSA            gradient-free, scores only (Uesato et al. 2018), its queries counted
transfer        examples forged on another model, handed over as they are (Papernot et al.)
ε=1             PGD-20 with ε = 1, where any image is reachable (must give 0)
certified       share of digits proven robust at ``cert_eps`` (IBP, or Wong & Kolter)
==============  ===========================================================================

Each attack runs on every digit, and the row keeps, per digit, who won (``per_digit``), so that the
attacks can be compared digit by digit: the AutoAttack column counts the digits that all three of
its attacks failed to break (the same digits as running each on the survivors of the one before).
"Accuracy" means the share of digits on which the *defender* wins: classified correctly, or, for a
detector system (:class:`~coursekit.defenses.detector.RejectOrClassify`), rejected when attacked
(Carlini & Wagner 2017 count an attack as successful only when it is accepted and wrong). On clean
digits a rejection is an error.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks import QueryCounter, apgd, apgd_t, eot_pgd, no_transform, pgd, spsa, square
from ..attacks._common import check_attack_args, check_positive, eval_mode, predict_labels
from .certify import METHODS, certified_accuracy
from .detector import RejectOrClassify, runner_up
from .masking import BLACK_BOX, WHITE_BOX, masking_checklist

COLUMNS = ("clean", "FGSM", "PGD-40", "PGD-50×10", "APGD-CE", "APGD-T", "SPSA", "Square",
           "AutoAttack", "transfer", "ε=1", "certified")
AUTOATTACK_COLUMNS = ("APGD-CE", "APGD-T", "Square", "AutoAttack")


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
    autoattack: bool = False       # the APGD-CE, APGD-T, Square and AutoAttack columns: off by
    apgd_steps: int = 100          # default, as they cost minutes on each robust row; the
    apgd_targets: int = 9          # budgets are AutoAttack's standard ones (Croce & Hein 2020)
    square_queries: int = 5000

    def __post_init__(self):
        for name in ("eps", "pgd_alpha", "strong_alpha", "cert_eps"):
            check_positive(name, getattr(self, name))
        for name in ("pgd_steps", "strong_steps", "restarts", "spsa_steps", "spsa_samples",
                     "unbounded_steps", "apgd_steps", "apgd_targets", "square_queries"):
            check_positive(name, getattr(self, name), integer=True)

    def columns(self) -> tuple[str, ...]:
        """The columns this budget measures, in table order."""
        return tuple(c for c in COLUMNS if self.autoattack or c not in AUTOATTACK_COLUMNS)

    def labels(self) -> dict:
        """Column name -> a short description with this budget's numbers (for table headers)."""
        return {"clean": "clean", "FGSM": "FGSM", "PGD-40": f"PGD-{self.pgd_steps}",
                "PGD-50×10": f"PGD-{self.strong_steps}×{self.restarts}",
                "APGD-CE": f"APGD-CE ({self.apgd_steps})",
                "APGD-T": f"APGD-T ({self.apgd_targets}×{self.apgd_steps})",
                "SPSA": f"SPSA ({self.spsa_steps * (2 * self.spsa_samples + 1):,} q)",
                "Square": f"Square ({self.square_queries:,} q)", "AutoAttack": "AutoAttack",
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
    ``weights`` names the shipped models (their manifest names) the system is built from, so a
    stored row can say which weights it measured.
    """

    name: str
    model: nn.Module
    attacked_as: nn.Module | None = None
    eot: int = 1
    certify: str | None = None
    train_seconds: float | None = None
    trained: str = ""
    weights: tuple[str, ...] = ()
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


def survives_restarts(defense: Defense, x: torch.Tensor, y: torch.Tensor, eps: float,
                      alpha: float, steps: int, restarts: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Per digit (N,), True when the defender wins against every one of ``restarts`` runs of
    :func:`white_box` (and on the clean digit).

    Restart r runs only on the digits that survived restarts 1..r−1: the outcome is the same
    as running all of them on every digit ("broken when any restart breaks it"), for less work.
    """
    alive = defender_wins(defense, x, y, attacked=False).nonzero().flatten()
    for _ in range(restarts):
        if len(alive) == 0:
            break
        x_adv = white_box(defense, x[alive], y[alive], eps, alpha, steps, True, generator)
        alive = alive[defender_wins(defense, x_adv, y[alive])]
    wins = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    wins[alive] = True
    return wins


def accuracy_with_restarts(defense: Defense, x: torch.Tensor, y: torch.Tensor, eps: float,
                           alpha: float, steps: int, restarts: int,
                           generator: torch.Generator | None = None) -> float:
    """Share of digits that survive every one of ``restarts`` runs of :func:`white_box`."""
    return _share(survives_restarts(defense, x, y, eps, alpha, steps, restarts, generator))


def _share(wins: torch.Tensor) -> float:
    return int(wins.sum()) / len(wins) if len(wins) else math.nan


def autoattack_wins(defense: Defense, x: torch.Tensor, y: torch.Tensor, budget: AttackBudget,
                    generator: torch.Generator | None = None) -> dict:
    """Per digit, whether the defender wins against APGD-CE, APGD-T and Square, each run on
    every digit: {"APGD-CE", "APGD-T", "Square"} -> (N,) bool, and Square's queries (N,).

    Adaptive as :func:`white_box` is: the gradient attacks differentiate ``attacked_as``, average
    ``eot`` draws of a random system's gradient, and attack a detector system jointly
    (APGD-CE targeted at the runner-up class; APGD-T, whose DLR loss has no place for the
    reject class, does not apply: NaN). Square queries the deployed system's scores only.
    """
    net = defense.attacked_as if defense.attacked_as is not None else defense.model
    labels, targeted = _attack_labels(defense, x, y)
    b, wins = budget, {}
    x_adv = apgd(net, x, labels, b.eps, b.apgd_steps, targeted=targeted, eot=defense.eot,
                 generator=generator)
    wins["APGD-CE"] = defender_wins(defense, x_adv, y)
    if defense.is_detector:
        wins["APGD-T"] = None
    else:
        x_adv = apgd_t(net, x, y, b.eps, b.apgd_steps, b.apgd_targets, eot=defense.eot,
                       generator=generator)
        wins["APGD-T"] = defender_wins(defense, x_adv, y)
    x_adv, info = square(QueryCounter(defense.model), x, labels, b.eps, b.square_queries,
                         targeted=targeted, generator=generator, rescale=False, trace=True)
    wins["Square"] = defender_wins(defense, x_adv, y)
    return {**wins, "square_queries": info["queries"]}


def evaluate_defense(defense: Defense, x: torch.Tensor, y: torch.Tensor,
                     x_transfer: torch.Tensor | None = None,
                     budget: AttackBudget = AttackBudget(), seed: int = 0,
                     batch_size: int = 500) -> dict:
    """One row of the table: accuracy under every attack of ``budget`` (see the module's table),
    the SPSA (and Square) queries per digit, seconds spent, the PGD-40 examples (``x_pgd40``,
    to hand to other defenses as a transfer attack), and ``per_digit``: column -> (N,) bool,
    True where the defender won that digit. ``x_transfer`` holds examples forged on another
    model for these very digits (None: no transfer column). A column that does not apply, or
    that the budget leaves out, is NaN. With ``budget.autoattack`` the row also holds
    ``black box alone``: the share of digits that a black-box attack (SPSA, Square, transfer)
    broke and no white-box attack did. Seeded: the random starts and the defense's own
    randomness are drawn from ``seed``.
    """
    check_attack_args(x, y, budget.eps, defense.model)
    if x_transfer is not None and x_transfer.shape != x.shape:
        raise ValueError(f"x_transfer must have the shape of x {tuple(x.shape)}, "
                         f"got {tuple(x_transfer.shape)}")
    check_positive("batch_size", batch_size, integer=True)
    b, start = budget, time.perf_counter()
    wins = {c: [] for c in COLUMNS[:-1]}
    queries, square_queries, x_pgd40 = 0, 0, []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        for xb, yb, tb in zip(x.split(batch_size), y.split(batch_size),
                              (x_transfer if x_transfer is not None else x).split(batch_size)):
            wins["clean"].append(defender_wins(defense, xb, yb, attacked=False))
            x_adv = white_box(defense, xb, yb, b.eps, b.eps, 1, random_start=False, generator=g)
            wins["FGSM"].append(defender_wins(defense, x_adv, yb))
            x_adv = white_box(defense, xb, yb, b.eps, b.pgd_alpha, b.pgd_steps, generator=g)
            wins["PGD-40"].append(defender_wins(defense, x_adv, yb))
            x_pgd40.append(x_adv)
            wins["PGD-50×10"].append(survives_restarts(defense, xb, yb, b.eps, b.strong_alpha,
                                                       b.strong_steps, b.restarts, g))
            box = QueryCounter(defense.model)          # scores only, every query counted
            labels, targeted = _attack_labels(defense, xb, yb)
            x_adv = spsa(box, xb, labels, b.eps, alpha=b.eps / 5, samples=b.spsa_samples,
                         max_queries=b.spsa_steps * (2 * b.spsa_samples + 1), targeted=targeted,
                         generator=g)
            wins["SPSA"].append(defender_wins(defense, x_adv, yb))
            queries += box.queries
            wins["transfer"].append(defender_wins(defense, tb, yb) if x_transfer is not None else None)
            x_adv = white_box(defense, xb, yb, 1.0, 2.5 / b.unbounded_steps, b.unbounded_steps,
                              generator=g)
            wins["ε=1"].append(defender_wins(defense, x_adv, yb))
            if b.autoattack:     # after the others, so that they draw what they drew without it
                aa = autoattack_wins(defense, xb, yb, b, g)
                for c in ("APGD-CE", "APGD-T", "Square"):
                    wins[c].append(aa[c])
                square_queries += int(aa["square_queries"].sum())
    per_digit = {c: torch.cat(parts) for c, parts in wins.items()
                 if parts and all(p is not None for p in parts)}
    if b.autoattack:
        per_digit["AutoAttack"] = per_digit["clean"] & per_digit["APGD-CE"] & per_digit["Square"] \
            & per_digit.get("APGD-T", per_digit["clean"])
    row = {c: _share(per_digit[c]) if c in per_digit else math.nan for c in COLUMNS[:-1]}
    row["certified"] = certified_accuracy(defense.model, x, y, b.cert_eps, method=defense.certify) \
        if defense.certify is not None else math.nan
    if b.autoattack:
        white = torch.stack([per_digit[c] for c in WHITE_BOX if c in per_digit]).all(0)
        black = torch.stack([per_digit[c] for c in BLACK_BOX if c in per_digit]).all(0)
        row["black box alone"] = _share(white & ~black)
        row["square_queries_per_digit"] = square_queries / len(x)
    row["spsa_queries_per_digit"] = queries / len(x)
    row["per_digit"] = per_digit
    row["x_pgd40"] = torch.cat(x_pgd40)
    row["eval_seconds"] = time.perf_counter() - start
    return row


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
    labels, columns = budget.labels(), budget.columns()
    head = ["defense"] + [labels[c] for c in columns] + ["training", "masking checks"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["name"]] + ["—" if math.isnan(r[c]) else f"{r[c]:.0%}" for c in columns]
        t = r["train_seconds"]
        seconds = "—" if t is None else f"{t:,.1f} s" if t < 10 else f"{t:,.0f} s"
        cells.append(f"{seconds} ({r['trained']})" if t is not None and r["trained"] else seconds)
        failed = [name for name, ok in r["checks"].items() if not ok]
        cells.append("ok" if not failed else "**FAILED**: " + "; ".join(failed))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gradient_masking_checks(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                            budget: AttackBudget = AttackBudget(autoattack=True), eot: int = 1,
                            tolerance: float = 0.05, seed: int = 0) -> dict:
    """Measure one row of the table for ``model`` (``eot`` > 1 for a random one) and read the
    checklist off it: the row of :func:`evaluate_defense` with ``checks``
    (:func:`masking_checklist`) and ``masking_suspected`` (a check failed)."""
    row = evaluate_defense(Defense("model", model, eot=eot), x, y, budget=budget, seed=seed)
    row["checks"] = masking_checklist(row, tolerance)
    row["masking_suspected"] = not all(row["checks"].values())
    return row


def format_masking_report(row: dict, budget: AttackBudget = AttackBudget(autoattack=True)) -> str:
    """A row with its ``checks`` (from :func:`gradient_masking_checks`) as a few readable lines."""
    labels = budget.labels()
    numbers = ", ".join(f"{labels[c]} {row[c]:.1%}" for c in budget.columns()
                        if not math.isnan(row[c]))
    lines = [f"ε = {budget.eps:g}: {numbers}"]
    if "black box alone" in row:
        lines.append(f"digits that only a black-box attack broke: {row['black box alone']:.1%}")
    lines += [f"  [{'ok' if ok else 'FAILED'}] {name}" for name, ok in row["checks"].items()]
    lines.append("gradient masking suspected" if not all(row["checks"].values())
                 else "no sign of gradient masking")
    return "\n".join(lines)

