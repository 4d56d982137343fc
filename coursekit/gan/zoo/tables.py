"""The loss zoo's numbers as a reader sees them: mean ± std over seeds, a tip or loss against
its baseline by Welch's t interval (:func:`compare`), and the markdown tables of notebook 05.

Neighbours in ``coursekit/gan/zoo/``: the runs that produce the rows are in ``experiment.py``, the
stored results in ``store.py``.
"""
from __future__ import annotations

import math
import statistics

from scipy.stats import t as student_t

from .settings import TIP_BASE

METRICS = {"ring": ("modes_covered", "high_quality"), "mnist": ("fid", "digits_covered", "confident")}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and standard deviation over seeds (n − 1 in the denominator; 0 for one value)."""
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


LOWER_IS_BETTER = {"fid"}


def compare(rows: list[dict], baseline: list[dict], metric: str, level: float = 0.95) -> dict:
    """``rows`` (one per seed) against ``baseline`` on ``metric``, by Welch's t interval.

    The difference of the means has standard error se = √(s²_a/n_a + s²_b/n_b) and, with
    Welch–Satterthwaite's degrees of freedom ν (Welch 1947), a ``level`` confidence interval
    difference ± t_ν·se. The verdict is "better" or "worse" when that interval excludes 0
    (in the direction that counts for the metric), else "no clear difference". With 3 seeds
    per side ν is between 2 and 4, so t_ν is 2.8 to 4.3: a rule of "two standard errors"
    would call a difference of no effect clear about one time in eight (ν = 4) or more.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    a, b = [r[metric] for r in rows], [r[metric] for r in baseline]
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"compare needs at least 2 seeds per side, got {len(a)} and {len(b)}")
    (mean_a, std_a), (mean_b, std_b) = mean_std(a), mean_std(b)
    difference = mean_a - mean_b
    va, vb = std_a ** 2 / len(a), std_b ** 2 / len(b)
    se = math.sqrt(va + vb)
    if se > 0:
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
        half_width = float(student_t.ppf(0.5 + level / 2, df)) * se
    else:  # no spread on either side: the difference is what it is
        df, half_width = math.inf, 0.0
    gain = -difference if metric in LOWER_IS_BETTER else difference
    verdict = "better" if gain > half_width else "worse" if gain < -half_width else "no clear difference"
    return {"difference": difference, "standard_error": se, "df": df, "half_width": half_width,
            "verdict": verdict}


def summarise(runs: dict) -> dict:
    """{problem: {name: {metric: [mean, std]}}} from per-seed rows {problem: {name: [row, ...]}}."""
    return {problem: {name: {m: list(mean_std([row[m] for row in rows])) for m in METRICS[problem]}
                      for name, rows in by_name.items() if rows}
            for problem, by_name in runs.items()}


def format_table(results: dict, part: str = "losses") -> str:
    """One markdown table, mean ± std over seeds: the loss zoo (``part="losses"``) or the tips
    (``part="tips"``, with the non-saturating baseline on top)."""
    if part not in ("losses", "tips"):
        raise ValueError(f"part must be 'losses' or 'tips', got {part!r}")
    summary = summarise(results[part])
    if part == "tips":
        base = summarise({p: {TIP_BASE: rows[TIP_BASE]} for p, rows in results["losses"].items()
                          if TIP_BASE in rows})
        summary = {p: {**({f"{TIP_BASE} (baseline)": base[p][TIP_BASE]} if TIP_BASE in base.get(p, {}) else {}),
                       **summary.get(p, {})} for p in results[part]}
    ring, mnist = summary.get("ring", {}), summary.get("mnist", {})
    names = list(dict.fromkeys(list(mnist) + list(ring)))
    columns = ((mnist, "fid", "{:.1f} ± {:.1f}"), (mnist, "digits_covered", "{:.1f} ± {:.1f}"),
               (ring, "modes_covered", "{:.1f} ± {:.1f}"), (ring, "high_quality", "{:.0%} ± {:.0%}"))
    lines = ["| | MNIST FID ↓ | digits covered (of 10) | ring modes (of 8) | ring high quality |",
             "|---|---|---|---|---|"]
    for name in names:
        cells = [fmt.format(*table[name][metric]) if name in table else "–" for table, metric, fmt in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    seeds = sorted({len(rows) for by_name in results[part].values() for rows in by_name.values()})
    return "\n".join(lines) + f"\n\nmean ± std over {'/'.join(map(str, seeds))} seeds"
