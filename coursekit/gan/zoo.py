"""The loss zoo in miniature: "Are GANs Created Equal?" (Lucic et al. 2018) on the ring and MNIST.

Every loss in :data:`coursekit.gan.losses.LOSSES` trains the same networks for the same number
of generator steps, from several seeds, on two problems:

* **ring**: the ring of 8 Gaussians (σ = 0.05) of notebook 04, with its MLP G and D, judged by
  modes covered and the share of high-quality samples (:func:`coursekit.gan.toys.mode_metrics`).
  Every loss uses the ring's optimiser setting (:data:`RING_SETTING`, the setting of notebook
  04's ring: Adam 10⁻³, β = (0.5, 0.9)) and keeps its own n_critic, clip and penalty.
  At the papers' image-sized learning rates no loss learns this ring within the budget.
* **mnist**: a small DCGAN (ngf = ndf = 16), each loss with its paper's preset (optimiser,
  learning rates, β, n_critic; :class:`coursekit.gan.losses.GANLoss`), judged by FID on
  MNIST features (``n_eval`` samples against the 10,000 test digits) and by
  :func:`digit_coverage`.

The same command measures the lecture's training tips (:data:`TIPS`) as controlled
comparisons: the non-saturating loss with one thing changed (k = 5 discriminator steps,
D's learning rate doubled and G's halved, one-sided label smoothing, virtual batch norm in G),
same networks, seeds and budget; its baseline is the zoo's non-saturating row.

Lucic et al. gave every loss a hyperparameter search and found that none consistently beats
the non-saturating loss once tuned; this is the untuned version: one setting per loss and a
few seeds. The results, with the command and the wall time, are stored in
``data/results/gan_zoo.json`` and read by notebook 05 through :func:`load_results`:

    python -m coursekit.gan.zoo              # full: 3 seeds per loss -> data/results/gan_zoo.json
    python -m coursekit.gan.zoo --quick      # a reduced version in about a minute, printed only

Standard deviations are over seeds, with Bessel's correction (n − 1 in the denominator).
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from scipy.stats import t as student_t

from ..config import data_dir, threads
from .losses import LOSSES
from .nets import DCGANDiscriminator, DCGANGenerator
from .toys import RING_SETTING as RING_TRAINING, train_ring
from .trainer import train_gan

# The optimiser part of the ring's training setting (as stored in the results file).
RING_SETTING = {key: RING_TRAINING[key] for key in ("optimizer", "lr_d", "lr_g", "betas")}

# Each tip changes one thing in the non-saturating baseline ("lr_scale": D's and G's learning
# rates multiplied by these factors). Virtual batch norm only applies to MNIST: the ring's MLPs
# have no batch norm to replace.
TIP_BASE = "non-saturating"
TIPS = {
    "k=5": {"k": 5},                             # Goodfellow et al. 2014, Algorithm 1
    "ttur": {"lr_scale": (2.0, 0.5)},            # Heusel et al. 2017: D faster than G
    "label-smoothing": {"real_label": 0.9},      # Salimans et al. 2016, §3.4
    "virtual-bn": {"norm": "virtual"},           # Salimans et al. 2016, §3.5
}
TIP_PROBLEMS = {"k=5": ("ring", "mnist"), "ttur": ("ring", "mnist"),
                "label-smoothing": ("ring", "mnist"), "virtual-bn": ("mnist",)}

# Beyond the seven shared-network rows: WGAN-GP as its paper prescribes it, with no batch norm in
# the critic (Gulrajani et al. 2017, §4; with batch norm the penalty on ∇D(x) is ill-posed).
# MNIST only: the ring's MLP critic has no batch norm anyway.
EXTRA = {"wgan-gp, no BN in D": ("wgan-gp", {"d_norm": "none"})}
EXTRA_PROBLEMS = {"wgan-gp, no BN in D": ("mnist",)}
COMMAND = "python -m coursekit.gan.zoo"


@dataclass(frozen=True)
class ZooConfig:
    """The budget: the same for every loss."""

    seeds: tuple[int, ...] = (0, 1, 2)
    ring_steps: int = 2000      # generator steps on the ring (batch 256)
    mnist_steps: int = 3000     # generator steps on MNIST
    mnist_batch: int = 64
    ngf: int = 16               # width of the DCGAN G; D uses ndf = ngf
    latent_dim: int = 64
    n_eval: int = 5000          # MNIST samples for FID and digit coverage
    n_curve: int = 6            # FID measurements along each MNIST run (2,000 samples each)


FULL = ZooConfig()
QUICK = ZooConfig(seeds=(0,), ring_steps=100, mnist_steps=20, n_eval=500, n_curve=2)


def default_path() -> Path:
    """Where the full results are kept: ``data/results/gan_zoo.json``."""
    return data_dir() / "results" / "gan_zoo.json"


# --- one run --------------------------------------------------------------------------------

def digit_coverage(probs: torch.Tensor, min_share: float = 0.01, confidence: float = 0.9) -> dict:
    """MNIST's counterpart of the ring's mode metrics, from classifier probabilities (N, 10).

    A sample is *confident* when the classifier gives its top digit at least ``confidence``
    (the counterpart of "within 3σ of a mode"); a digit is *covered* when at least
    ``min_share`` of all samples are confident ones of that digit (as on the ring). The
    classifier also labels some garbage confidently, so read it next to FID.
    """
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probs must have shape (N, classes) with N >= 1, got {tuple(probs.shape)}")
    top, label = probs.max(dim=1)
    good = top >= confidence
    counts = torch.bincount(label[good], minlength=probs.shape[1])
    return {"digits_covered": int((counts >= min_share * len(probs)).sum()),
            "confident": good.float().mean().item()}


def tip_settings(tip: str, problem: str) -> dict:
    """The :func:`train_gan` arguments (and ``norm``) that tip ``tip`` changes on ``problem``."""
    if tip not in TIPS or problem not in TIP_PROBLEMS[tip]:
        raise ValueError(f"tip must be one of {sorted(TIPS)} on a problem it applies to, "
                         f"got {tip!r} on {problem!r}")
    settings = dict(TIPS[tip])
    if "lr_scale" in settings:
        base = RING_SETTING if problem == "ring" else LOSSES[TIP_BASE].preset
        scale_d, scale_g = settings.pop("lr_scale")
        settings.update(lr_d=base["lr_d"] * scale_d, lr_g=base["lr_g"] * scale_g)
    return settings


def _history_numbers(history: dict, steps: int) -> dict:
    """How hard G was pushed early on, and where D's logits ended (mean of the last 100 steps)."""
    early = history["g_grad_norm"][: max(1, steps // 10)]
    return {"g_grad_norm_early": round(statistics.fmean(early), 6),
            "d_real_logit_last": round(statistics.fmean(history["d_real"][-100:]), 4),
            "d_fake_logit_last": round(statistics.fmean(history["d_fake"][-100:]), 4)}


def run_ring(loss: str, seed: int, steps: int, **overrides) -> tuple[dict, torch.Tensor]:
    """Train ``loss`` on the ring from ``seed`` (``overrides`` go to :func:`train_gan`);
    return its row and 500 of G's samples."""
    start = time.perf_counter()
    kwargs = {**RING_SETTING, "k": LOSSES[loss].preset.get("k", 1), **overrides}
    G, _, history, m = train_ring(steps=steps, seed=seed, loss=loss, **kwargs)
    row = {"seed": seed, "modes_covered": m["modes_covered"], "high_quality": round(m["high_quality"], 4),
           **_history_numbers(history, steps), "seconds": round(time.perf_counter() - start, 1)}
    return row, G.sample(500, seed=seed + 200)


def mnist_features(x_test: torch.Tensor) -> torch.Tensor:
    """MNIST features of the real test digits (the FID reference)."""
    from ..metrics import extract_features
    return extract_features(x_test, progress=False).features


def run_mnist(loss: str, seed: int, config: ZooConfig, x_train: torch.Tensor, real_features: torch.Tensor,
              progress: bool = False, **overrides) -> tuple[dict, torch.Tensor]:
    """Train ``loss`` on MNIST from ``seed`` with the DCGAN of ``config``; ``overrides`` go to
    :func:`train_gan` (``norm`` to the generator, ``d_norm`` to the discriminator). Returns the
    row and 8 samples of G."""
    from ..metrics import extract_features, frechet_distance

    overrides = dict(overrides)
    norm, d_norm = overrides.pop("norm", "batch"), overrides.pop("d_norm", "batch")

    def evaluate(G, n, sample_seed):
        fake = extract_features(G.sample(n, seed=sample_seed), progress=False)
        return frechet_distance(real_features, fake.features), fake.probs

    start = time.perf_counter()
    with threads(1):
        torch.manual_seed(seed)
        G = DCGANGenerator(latent_dim=config.latent_dim, ngf=config.ngf, norm=norm)
        D = DCGANDiscriminator(ndf=config.ngf, norm=d_norm)
        history = train_gan(
            G, D, lambda n, g: x_train[torch.randint(len(x_train), (n,), generator=g)], loss=loss,
            steps=config.mnist_steps, batch_size=config.mnist_batch, seed=seed, progress=progress,
            eval_fn=lambda G: {"fid": evaluate(G, min(2000, config.n_eval), seed + 300)[0]},
            eval_every=max(1, config.mnist_steps // config.n_curve), **overrides)
        seconds = time.perf_counter() - start
        fid, probs = evaluate(G, config.n_eval, seed + 100)
    row = {"seed": seed, "fid": round(fid, 3), **_rounded(digit_coverage(probs)),
           "fid_curve": [[e["step"], round(e["fid"], 2)] for e in history["evals"]],
           **_history_numbers(history, config.mnist_steps), "seconds": round(seconds, 1)}
    return row, G.sample(8, seed=seed + 400)


def _rounded(d: dict, digits: int = 4) -> dict:
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in d.items()}


# --- the tables -----------------------------------------------------------------------------

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


# --- the whole experiment -------------------------------------------------------------------

def _encode(x: torch.Tensor, kind: str) -> dict:
    """A small tensor as base64 text: images as uint8 in [0, 255], points as float16."""
    x = x.detach().cpu()
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8) if kind == "images" else x.to(torch.float16)
    return {"shape": list(x.shape), "dtype": str(x.dtype).removeprefix("torch."),
            "base64": base64.b64encode(x.numpy().tobytes()).decode()}


def decode_samples(entry: dict) -> torch.Tensor:
    """Samples stored by :func:`run_zoo` back as a float32 tensor (images in [0, 1])."""
    raw = bytearray(base64.b64decode(entry["base64"]))
    x = torch.frombuffer(raw, dtype=getattr(torch, entry["dtype"])).view(entry["shape"]).float()
    return x / 255 if entry["dtype"] == "uint8" else x


def plan(config: ZooConfig, losses=tuple(LOSSES), tips=tuple(TIPS), problems=("ring", "mnist"),
         extra=tuple(EXTRA)) -> list:
    """Every run as (part, problem, name, seed): the ring first (minutes), then MNIST."""
    runs = []
    for problem in problems:
        runs += [("losses", problem, loss, seed) for loss in losses for seed in config.seeds]
        runs += [("losses", problem, name, seed) for name in extra if problem in EXTRA_PROBLEMS[name]
                 for seed in config.seeds]
        runs += [("tips", problem, tip, seed) for tip in tips if problem in TIP_PROBLEMS[tip]
                 for seed in config.seeds]
    return runs


def run_zoo(config: ZooConfig = FULL, losses: tuple[str, ...] = tuple(LOSSES), tips: tuple[str, ...] = tuple(TIPS),
            problems: tuple[str, ...] = ("ring", "mnist"), out: Path | None = None,
            progress: bool = True, extra: tuple[str, ...] = tuple(EXTRA)) -> dict:
    """Train every loss (and the ``extra`` rows) and every tip on every problem from every seed
    of ``config``.

    With ``out`` the results are written after every run, and a run already in that file with
    the same config is not repeated (a long job on a shared machine can be resumed, and rows
    added later are computed alone).
    """
    from tqdm.auto import tqdm

    from ..data import mnist

    bad = ([n for n in losses if n not in LOSSES] + [n for n in tips if n not in TIPS]
           + [n for n in extra if n not in EXTRA])
    if bad:
        raise ValueError(f"losses must come from {list(LOSSES)}, tips from {list(TIPS)} and extra rows "
                         f"from {list(EXTRA)}, got {bad}")
    results = {"command": COMMAND, "config": asdict(config), "complete": False, "wall_seconds": 0.0,
               "machine": {"torch": torch.__version__, "python": platform.python_version(),
                           "cpu_count": os.cpu_count(), "torch_threads": 1},
               "ring_setting": RING_SETTING,
               "presets": {loss: LOSSES[loss].preset for loss in losses},
               "tip_settings": {tip: {p: tip_settings(tip, p) for p in TIP_PROBLEMS[tip]} for tip in tips},
               "extra_settings": {name: {"loss": EXTRA[name][0], **EXTRA[name][1]} for name in extra},
               "losses": {p: {} for p in problems}, "tips": {p: {} for p in problems},
               "samples": {p: {} for p in problems}}
    results = json.loads(json.dumps(results))  # tuples as lists, as they come back from a file
    if out is not None and Path(out).is_file():
        saved = json.loads(Path(out).read_text())
        if saved.get("config") == results["config"]:  # same budget: keep its runs, add what is missing
            for key in ("presets", "tip_settings", "extra_settings"):
                saved[key] = {**saved.get(key, {}), **results[key]}
            results = {**saved, "complete": False}
    start = time.perf_counter() - results["wall_seconds"]
    x_train = mnist("train").tensors()[0] if "mnist" in problems else None
    real_features = mnist_features(mnist("test").tensors()[0]) if "mnist" in problems else None
    todo = [(part, problem, name, seed) for part, problem, name, seed in plan(config, losses, tips, problems, extra)
            if seed not in [r["seed"] for r in results[part].setdefault(problem, {}).get(name, [])]]
    for part, problem, name, seed in tqdm(todo, desc="loss zoo and tips", disable=not progress):
        if part == "tips":
            loss, settings = TIP_BASE, tip_settings(name, problem)
        else:
            loss, settings = EXTRA.get(name, (name, {}))
        if problem == "ring":
            row, samples = run_ring(loss, seed, config.ring_steps, **settings)
        else:
            row, samples = run_mnist(loss, seed, config, x_train, real_features, **settings)
        results[part][problem].setdefault(name, []).append(row)
        if part == "losses" and seed == config.seeds[0]:
            results["samples"].setdefault(problem, {})[name] = _encode(samples, "points" if problem == "ring" else "images")
        results["wall_seconds"] = round(time.perf_counter() - start, 1)
        if out is not None:
            _write(results, out)
    results["summary"] = {part: summarise(results[part]) for part in ("losses", "tips")}
    results["complete"] = True
    results["wall_seconds"] = round(time.perf_counter() - start, 1)
    if out is not None:
        _write(results, out)
    return results


def _write(results: dict, out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(out)


def load_results(path: Path | None = None) -> dict:
    """The stored zoo and tips (default ``data/results/gan_zoo.json``)."""
    path = Path(path or default_path())
    if not path.is_file():
        raise FileNotFoundError(f"no zoo results at {path}; `{COMMAND}` computes them")
    results = json.loads(path.read_text())
    if not results.get("complete"):
        raise ValueError(f"{path} is an unfinished run; `{COMMAND}` resumes it")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced version: 1 seed, few steps")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output file (default: {default_path()} in full mode, none with --quick)")
    parser.add_argument("--losses", nargs="*", default=list(LOSSES), choices=list(LOSSES))
    parser.add_argument("--tips", nargs="*", default=list(TIPS), choices=list(TIPS))
    parser.add_argument("--problems", nargs="+", default=["ring", "mnist"], choices=["ring", "mnist"])
    parser.add_argument("--extra", nargs="*", default=list(EXTRA), choices=list(EXTRA))
    args = parser.parse_args(argv)
    out = args.out if args.out is not None or args.quick else default_path()
    torch.set_num_threads(1)
    results = run_zoo(QUICK if args.quick else FULL, tuple(args.losses), tuple(args.tips),
                      tuple(args.problems), out=out, extra=tuple(args.extra))
    print(format_table(results, "losses"))
    if any(results["tips"].values()):
        print()
        print(format_table(results, "tips"))
    print(f"{results['wall_seconds']:.0f} s in all" + (f"; written to {out}" if out else ""))


if __name__ == "__main__":
    main()
