"""Notebook 01's experiments at full size, stored with the command that made them.

Each function below is one experiment of notebook 01; the notebook calls the same functions
on a few digits, live, and reads the full-size results from ``data/results/attacks_survey.json``:

    python -m coursekit.attacks.survey            # every experiment at full size (about 20 min of CPU)
    python -m coursekit.attacks.survey --quick    # the same on a few digits, printed only

The run is resumable: an experiment already in the file with the same settings is not
repeated. On a machine with cores to spare, groups of experiments can run in parallel
processes (``--only NAME ... --out part1.json`` each), then ``--merge part1.json part2.json``
collects them into the results file. The file records the command, the library versions, the machine and the seconds each
experiment took, and every figure the notebook states about the full-size run.

Every experiment reports **a control**: the same models under random noise of the same size
(each pixel moved by ±ε with a random sign, clipped to [0, 1]) or a random transformation.
An attack only shows something about *adversarial* directions where it beats its control.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..config import data_dir, threads
from ._common import eval_mode, predict_labels
from .blackbox import QueryCounter, finite_difference_attack, spsa
from .cw import cw_l2
from .deepfool import deepfool, rho_adv
from .gradient import fgsm, pgd
from .jsma import jsma
from .patch import adversarial_patch, patch_success_rate
from .spatial import eot_pgd, random_rotate_translate, spatial_attack, survival_rate
from .transfer import leave_one_out_rates, mi_fgsm, transfer_rates
from .universal import fooling_rate, universal_perturbation

COMMAND = "python -m coursekit.attacks.survey"
MODELS = ("mnist-cnn", "mnist-lenet", "mnist-mlp")


def default_path() -> Path:
    """Where the full results are kept: ``data/results/attacks_survey.json``."""
    return data_dir() / "results" / "attacks_survey.json"


# --- controls --------------------------------------------------------------------------------

def random_sign_noise(x: torch.Tensor, eps: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + ε·s with s ∈ {−1, +1} drawn uniformly per pixel, clipped to [0, 1]: random noise with
    the same L∞ size as an FGSM step (the control every attack must beat)."""
    s = torch.randint(0, 2, x.shape, generator=generator, device="cpu").to(x.device, x.dtype) * 2 - 1
    return (x + eps * s).clamp(0, 1)


def accuracy_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with eval_mode(model):
        return (predict_labels(model, x) == y).float().mean().item()


def class_shares(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Share of the images that ``model`` puts in each class (10 numbers)."""
    with eval_mode(model):
        counts = torch.bincount(predict_labels(model, x), minlength=10)
    return (counts.float() / len(x)).tolist()


def consistent(live: float, n_live: int, stored: float, n_stored: int, z: float = 3.0,
               slack: float = 0.03) -> bool:
    """Do a live rate on ``n_live`` digits and the stored one on ``n_stored`` agree? True when they
    differ by at most ``z`` standard errors of the difference of two binomial proportions (pooled
    rate) plus ``slack`` (the runs may differ slightly: another machine, library version or
    random draw). A property that survives a version change, unlike the digits themselves."""
    p = (live * n_live + stored * n_stored) / (n_live + n_stored)
    se = (max(p * (1 - p), 0.0) * (1 / n_live + 1 / n_stored)) ** 0.5
    return abs(live - stored) <= z * se + slack


# --- white box -------------------------------------------------------------------------------

def pgd_alpha(eps: float, steps: int) -> float:
    """Madry et al.'s step rule, α = 2.5·ε / steps (enough to cross the ball and come back)."""
    return 2.5 * eps / steps


def accuracy_curves(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_grid, steps: int = 40,
                    seed: int = 0) -> dict:
    """Accuracy of ``model`` against ε under random-sign noise, FGSM and PGD-``steps`` (no
    random start, α = 2.5ε/steps), on the same digits."""
    g = torch.Generator().manual_seed(seed)
    out = {"eps": list(eps_grid), "noise": [], "FGSM": [], "PGD": []}
    for eps in eps_grid:
        if eps == 0:
            clean = accuracy_of(model, x, y)
            for key in ("noise", "FGSM", "PGD"):
                out[key].append(clean)
            continue
        out["noise"].append(accuracy_of(model, random_sign_noise(x, eps, g), y))
        out["FGSM"].append(accuracy_of(model, fgsm(model, x, y, eps), y))
        x_pgd = pgd(model, x, y, eps, pgd_alpha(eps, steps), steps, random_start=False)
        out["PGD"].append(accuracy_of(model, x_pgd, y))
    return out


def targeted_vs_untargeted(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_list,
                           steps: int = 40) -> dict:
    """Success rates of PGD-``steps`` untargeted (any wrong label) and targeted at y + 1 (mod 10),
    over the digits the model gets right, for each ε."""
    right = accuracy_mask(model, x, y)
    x, y = x[right], y[right]
    t = (y + 1) % 10
    out = {"eps": list(eps_list), "untargeted": [], "targeted": [], "n": len(x)}
    for eps in eps_list:
        a = pgd_alpha(eps, steps)
        out["untargeted"].append(1 - accuracy_of(model, pgd(model, x, y, eps, a, steps, random_start=False), y))
        hit = accuracy_of(model, pgd(model, x, t, eps, a, steps, random_start=False, targeted=True), t)
        out["targeted"].append(hit)
    return out


def accuracy_mask(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with eval_mode(model):
        return predict_labels(model, x) == y


def restarts_gain(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 0.1,
                  alpha: float = 0.02, steps: int = 10, restarts=(1, 5), seed: int = 0) -> dict:
    """Accuracy under PGD-``steps`` from a random start, keeping per digit the worst of r starts."""
    return {str(r): accuracy_of(model, pgd(model, x, y, eps, alpha, steps, restarts=r,
                                           generator=torch.Generator().manual_seed(seed)), y)
            for r in restarts}


class GradientCounter(nn.Module):
    """Wraps a model and counts, per image, its forward passes and the backward passes through it
    (each ``torch.autograd.grad`` call that reaches the input counts once per image)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.forwards, self.backwards = model, 0, 0
        self.register_full_backward_hook(self._count_backward)

    def _count_backward(self, module, grad_input, grad_output):
        self.backwards += len(grad_output[0])

    def forward(self, x):
        self.forwards += len(x)
        return self.model(x)


def deepfool_and_cw(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_cw: int, cw_steps: int = 200,
                    cw_search: int = 6) -> dict:
    """DeepFool's ρ_adv on ``x`` and C&W L2 on its first ``n_cw`` digits: median ‖δ‖₂ where both
    succeed, and the backward passes per digit each one spent."""
    counter = GradientCounter(model)
    x_df = deepfool(counter, x, y)
    df_backwards = counter.backwards / len(x)
    correct = accuracy_mask(model, x, y)
    fooled = correct & ~accuracy_mask(model, x_df, y)
    out = {"n": len(x), "rho_adv": rho_adv(x, x_df, fooled), "deepfool_fooled": fooled.float().mean().item(),
           "deepfool_correct": correct.float().mean().item(), "deepfool_backwards_per_digit": df_backwards}
    if n_cw:
        counter = GradientCounter(model)
        x_c, y_c = x[:n_cw], y[:n_cw]
        x_cw = cw_l2(counter, x_c, y_c, steps=cw_steps, lr=0.1, binary_search_steps=cw_search,
                     initial_const=0.1)
        both = ~accuracy_mask(model, x_cw, y_c) & fooled[:n_cw]
        norm = lambda a: (a - x_c).flatten(1).norm(dim=1)[both].median().item() if both.any() else math.nan  # noqa: E731
        out.update(cw_n=n_cw, cw_both=both.float().mean().item(), cw_median_l2=norm(x_cw),
                   deepfool_median_l2=norm(x_df[:n_cw]), cw_backwards_per_digit=counter.backwards / n_cw)
    return out


def jsma_success(model: nn.Module, x: torch.Tensor, y: torch.Tensor, gamma: float = 0.145) -> dict:
    """JSMA towards y + 1 (Papernot et al.'s MNIST setting: θ = 1, γ = 14.5%): success rate and
    pixels changed, over the digits the model gets right."""
    right = accuracy_mask(model, x, y)
    x, t = x[right], (y[right] + 1) % 10
    x_j = jsma(model, x, t, theta=1.0, gamma=gamma)
    hit = accuracy_mask(model, x_j, t)
    changed = (x_j != x).flatten(1).sum(1).float()
    return {"n": len(x), "success": hit.float().mean().item(), "mean_pixels": changed.mean().item(),
            "mean_pixels_success": changed[hit].mean().item() if hit.any() else float("nan"),
            "max_pixels": changed.max().item(), "limit_pixels": int(gamma * x[0].numel())}


# --- black box -------------------------------------------------------------------------------

def query_attacks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, budgets=(500, 1000, 2000, 5000),
                  alphas=(0.01, 0.025), fd_budget: int = 20_000, n_fd: int = 30, seed: int = 0) -> dict:
    """Accuracy under SPSA for each query budget (default step; and, at 1,000 queries, the steps
    in ``alphas``), under finite differences on the first ``n_fd`` digits, under white-box PGD-40
    and under random-sign noise, all at ``eps``; queries counted by :class:`QueryCounter`."""
    g = lambda: torch.Generator().manual_seed(seed)   # noqa: E731
    out = {"eps": eps, "n": len(x), "spsa": {}, "spsa_alpha_at_1000": {}}
    for q in budgets:
        box = QueryCounter(model)
        out["spsa"][str(q)] = {"accuracy": accuracy_of(model, spsa(box, x, y, eps, max_queries=q, generator=g()), y),
                               "queries_per_digit": box.queries / len(x)}
    for a in alphas:
        out["spsa_alpha_at_1000"][str(a)] = accuracy_of(model, spsa(model, x, y, eps, alpha=a, max_queries=1000,
                                                                    generator=g()), y)
    if n_fd:
        box = QueryCounter(model)
        x_fd = finite_difference_attack(box, x[:n_fd], y[:n_fd], eps, max_queries=fd_budget)
        out["fd"] = {"n": n_fd, "max_queries": fd_budget, "accuracy": accuracy_of(model, x_fd, y[:n_fd]),
                     "queries_per_digit": box.queries / n_fd,
                     "pgd_accuracy_same_digits": accuracy_of(model, pgd(model, x[:n_fd], y[:n_fd], eps,
                                                                        pgd_alpha(eps, 40), 40,
                                                                        random_start=False), y[:n_fd])}
    out["pgd_accuracy"] = accuracy_of(model, pgd(model, x, y, eps, pgd_alpha(eps, 40), 40, random_start=False), y)
    out["noise_accuracy"] = accuracy_of(model, random_sign_noise(x, eps, g()), y)
    return out


def transfer_experiment(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, eps: float,
                        steps: int = 40, seed: int = 0) -> dict:
    """Transfer matrices for FGSM, PGD-``steps`` and MI-FGSM (10 steps), leave-one-out ensembles
    for PGD and MI-FGSM, and each target's error under random-sign noise of the same ε."""
    attacks: dict[str, Callable] = {
        "FGSM": lambda m, a, b: fgsm(m, a, b, eps),
        f"PGD-{steps}": lambda m, a, b: pgd(m, a, b, eps, pgd_alpha(eps, steps), steps, random_start=False),
        "MI-FGSM": lambda m, a, b: mi_fgsm(m, a, b, eps, steps=10),
    }
    out = {"eps": eps, "n": len(x), "models": list(models), "rates": {}, "leave_one_out": {}, "noise_error": {}}
    for name, attack in attacks.items():
        _, rates = transfer_rates(models, x, y, attack)
        out["rates"][name] = rates.tolist()
        if name != "FGSM":
            out["leave_one_out"][name] = leave_one_out_rates(models, x, y, attack)
    g = torch.Generator().manual_seed(seed)
    x_noise = random_sign_noise(x, eps, g)
    for name, model in models.items():
        right = accuracy_mask(model, x, y)
        out["noise_error"][name] = 1 - accuracy_of(model, x_noise[right], y[right])
    return out


# --- beyond one image ------------------------------------------------------------------------

def universal_experiment(model: nn.Module, x_fit: torch.Tensor, x_new: torch.Tensor, xi: float,
                         passes: int = 3, seed: int = 0) -> dict:
    """A universal perturbation v (‖v‖∞ ≤ ξ) fitted on ``x_fit``; its fooling rate there and on
    ``x_new``, and the fooling rate of a random-sign v of the same size on ``x_new``."""
    g = torch.Generator().manual_seed(seed)
    v = universal_perturbation(model, x_fit, xi=xi, norm="linf", max_passes=passes, generator=g)
    v_random = xi * (torch.randint(0, 2, v.shape, generator=g) * 2 - 1).to(v)
    return {"xi": xi, "n_fit": len(x_fit), "n_new": len(x_new), "fit": fooling_rate(model, x_fit, v),
            "new": fooling_rate(model, x_new, v), "random": fooling_rate(model, x_new, v_random),
            "v": v.flatten().tolist()}


def spatial_experiment(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_angles: int = 31,
                       n_shifts: int = 7, seed: int = 0) -> dict:
    """Accuracy under the worst rotation (±30°) and shift (±3 px) of a grid (Engstrom et al.), and
    under one random transformation from the same ranges."""
    g = torch.Generator().manual_seed(seed)
    x_worst = spatial_attack(model, x, y, n_angles=n_angles, n_shifts=n_shifts)
    return {"n": len(x), "grid": [n_angles, n_shifts, n_shifts], "clean": accuracy_of(model, x, y),
            "worst": accuracy_of(model, x_worst, y),
            "random": accuracy_of(model, random_rotate_translate(x, generator=g), y)}


def eot_experiment(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 40,
                   samples: int = 8, seed: int = 0) -> dict:
    """PGD and EOT-PGD at ``eps``: how often each fools the model as made, and after random turns
    (±15°) and shifts (±2 px); random-sign noise of the same ε as the control."""
    g = lambda s: torch.Generator().manual_seed(seed + s)   # noqa: E731
    plain = pgd(model, x, y, eps, 0.01, steps, random_start=False)
    robust = eot_pgd(model, x, y, eps, 0.01, steps, samples=samples, generator=g(1))
    noise = random_sign_noise(x, eps, g(2))
    return {"eps": eps, "n": len(x),
            "fooled": {k: 1 - accuracy_of(model, v, y) for k, v in (("PGD", plain), ("EOT", robust), ("noise", noise))},
            "survive": {k: survival_rate(model, v, y, samples=10, generator=g(3))
                        for k, v in (("PGD", plain), ("EOT", robust), ("noise", noise))}}


def patch_experiment(model: nn.Module, x_fit: torch.Tensor, x_eval: torch.Tensor, y_eval: torch.Tensor,
                     target: int = 3, size: int = 12, steps: int = 400, seed: int = 0) -> dict:
    """A ``size``² patch trained towards ``target`` on ``x_fit``; targeted success at random places
    on ``x_eval``, against a random patch of the same size."""
    g = lambda s: torch.Generator().manual_seed(seed + s)   # noqa: E731
    patch = adversarial_patch(model, x_fit, target=target, size=size, steps=steps, lr=0.1, batch_size=64,
                              generator=g(0))
    noise = torch.rand(patch.shape, generator=g(1)).to(patch)
    return {"target": target, "size": size, "steps": steps, "n_eval": len(x_eval),
            "success": patch_success_rate(model, x_eval, y_eval, patch, target, generator=g(2)),
            "random_patch": patch_success_rate(model, x_eval, y_eval, noise, target, generator=g(2)),
            "patch": patch.flatten().tolist()}


# --- the full run ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SurveyConfig:
    """Sizes of every experiment (digits are the first n of the MNIST test set)."""

    n_classes: int = 10_000         # FGSM at ε = 0.25 and its controls: which class do images go to?
    n_curve: int = 1_000            # accuracy against ε
    eps_grid: tuple = (0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)
    n_targeted: int = 500
    targeted_eps: tuple = (0.05, 0.1, 0.2, 0.3)
    steps: int = 40
    n_restarts: int = 1_000
    n_deepfool: int = 500
    n_cw: int = 50
    cw_steps: int = 200
    cw_search: int = 6
    n_jsma: int = 100
    n_query: int = 50
    query_budgets: tuple = (500, 1000, 2000, 5000)
    n_fd: int = 30
    n_transfer: int = 500
    transfer_eps: tuple = (0.2, 0.3)
    n_universal_fit: int = 500
    n_universal_new: int = 2_000
    universal_passes: int = 3
    n_spatial: int = 150
    n_eot: int = 200
    patch_steps: int = 400
    n_patch_eval: int = 2_000


# the settings each experiment depends on: a stored experiment is kept when these are unchanged
SETTINGS = {"classes_at_0.25": ("n_classes",), "curves": ("n_curve", "eps_grid", "steps"),
            "targeted": ("n_targeted", "targeted_eps", "steps"), "restarts": ("n_restarts",),
            "deepfool_cw": ("n_deepfool", "n_cw", "cw_steps", "cw_search"), "jsma": ("n_jsma",),
            "query": ("n_query", "query_budgets", "n_fd"), "transfer": ("n_transfer", "transfer_eps", "steps"),
            "universal": ("n_universal_fit", "n_universal_new", "universal_passes"), "spatial": ("n_spatial",),
            "eot": ("n_eot",), "patch": ("patch_steps", "n_patch_eval")}

FULL = SurveyConfig()
QUICK = SurveyConfig(n_classes=200, n_curve=50, eps_grid=(0.0, 0.05, 0.1), n_targeted=30, targeted_eps=(0.1,), steps=10,
                     n_restarts=50, n_deepfool=50, n_cw=5, cw_steps=30, cw_search=2, n_jsma=4, n_query=5,
                     query_budgets=(500,), n_fd=2, n_transfer=50, transfer_eps=(0.2,), n_universal_fit=30,
                     n_universal_new=100, universal_passes=1, n_spatial=20, n_eot=10, patch_steps=10,
                     n_patch_eval=100)


def experiments(cfg: SurveyConfig, models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor) -> dict:
    """name → a function that runs that experiment (the keys of the stored file)."""
    cnn, lenet = models["mnist-cnn"], models["mnist-lenet"]

    def first(n):
        return x[:n], y[:n]

    def noise_classes():
        xs, ys = first(cfg.n_classes)
        g = torch.Generator().manual_seed(0)
        return {name: {"n": len(xs), "clean": accuracy_of(m, xs, ys),
                       **{kind: {"accuracy": accuracy_of(m, xa, ys), "class_shares": class_shares(m, xa)}
                          for kind, xa in (("FGSM", fgsm(m, xs, ys, 0.25)), ("noise", random_sign_noise(xs, 0.25, g)),
                                           ("brighter", (xs + 0.25).clamp(0, 1)))}}
                for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))}

    return {
        "classes_at_0.25": noise_classes,
        "curves": lambda: {name: accuracy_curves(m, *first(cfg.n_curve), cfg.eps_grid, cfg.steps)
                           for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))},
        "targeted": lambda: {name: targeted_vs_untargeted(m, *first(cfg.n_targeted), cfg.targeted_eps, cfg.steps)
                             for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))},
        "restarts": lambda: {name: restarts_gain(m, *first(cfg.n_restarts))
                             for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))},
        "deepfool_cw": lambda: {"mnist-cnn": deepfool_and_cw(cnn, *first(cfg.n_deepfool), cfg.n_cw, cfg.cw_steps,
                                                             cfg.cw_search),
                                "mnist-lenet": deepfool_and_cw(lenet, *first(cfg.n_deepfool), 0)},
        "jsma": lambda: jsma_success(cnn, *first(cfg.n_jsma)),
        "query": lambda: {f"mnist-lenet ε={eps}": query_attacks(lenet, *first(cfg.n_query), eps, cfg.query_budgets,
                                                                 n_fd=cfg.n_fd)
                          for eps in (0.1, 0.2)},
        "transfer": lambda: {str(eps): transfer_experiment(models, *first(cfg.n_transfer), eps, cfg.steps)
                             for eps in cfg.transfer_eps},
        "universal": lambda: {f"{name} ξ={xi}": universal_experiment(m, x[:cfg.n_universal_fit],
                                                                      x[5_000:5_000 + cfg.n_universal_new], xi,
                                                                      cfg.universal_passes)
                              for name, m, xi in (("mnist-lenet", lenet, 0.2), ("mnist-mlp", models["mnist-mlp"], 0.2))},
        "spatial": lambda: {name: spatial_experiment(m, *first(cfg.n_spatial))
                            for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))},
        "eot": lambda: {name: eot_experiment(m, *first(cfg.n_eot), eps)
                        for name, m, eps in (("mnist-cnn", cnn, 0.05), ("mnist-lenet", lenet, 0.1))},
        "patch": lambda: patch_experiment(cnn, x[5_000:7_000], *first(cfg.n_patch_eval), steps=cfg.patch_steps),
    }


def run_survey(cfg: SurveyConfig = FULL, out: Path | None = None, only: list[str] | None = None) -> dict:
    """Run every experiment of ``cfg`` on one thread, skipping those that ``out`` already holds
    with the same settings (``only``: run just these, again); write ``out`` after each one."""
    from ..data import mnist
    from ..models import load_pretrained
    results = json.loads(out.read_text()) if out is not None and out.exists() else {}
    config = _jsonable(asdict(cfg))
    old = results.get("config", {})
    for name in list(results.get("experiments", {})):          # keep what was run with these settings
        if any(old.get(k) != config[k] for k in SETTINGS[name]):
            for part in ("experiments", "seconds", "cpu_seconds"):
                results.get(part, {}).pop(name, None)
    results.update(command=COMMAND, config=config,
                   versions={"torch": torch.__version__, "python": platform.python_version()},
                   machine={"cpu_count": os.cpu_count(), "torch_threads": 1})
    results.setdefault("experiments", {})
    results.setdefault("seconds", {})
    with threads(1):
        models = {name: load_pretrained(name) for name in MODELS}
        x, y = mnist("test").tensors()
        for name, run in experiments(cfg, models, x, y).items():
            if (only and name not in only) or (not only and name in results["experiments"]):
                continue
            start, cpu = time.perf_counter(), time.process_time()
            torch.manual_seed(0)
            results["experiments"][name] = run()
            results["seconds"][name] = round(time.perf_counter() - start, 1)
            results.setdefault("cpu_seconds", {})[name] = round(time.process_time() - cpu, 1)
            print(f"{name}: {results['seconds'][name]:.0f} s", flush=True)
            results["wall_seconds"] = round(sum(results["seconds"].values()), 1)
            results["cpu_seconds_total"] = round(sum(results["cpu_seconds"].values()), 1)
            results["complete"] = set(results["experiments"]) == set(SETTINGS)
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(_rounded(results)) + "\n")
    return results


def _jsonable(value):
    return json.loads(json.dumps(value))


def _rounded(value, digits: int = 5):
    """Floats rounded to ``digits`` decimals, everywhere in a nested structure."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, digits) for v in value]
    return value


def merge_results(parts: list[Path], out: Path) -> dict:
    """One results file from the files of parallel runs (same configuration): every experiment,
    with its seconds, taken from the part that holds it."""
    results: dict = {}
    for path in parts:
        part = json.loads(Path(path).read_text())
        if results and part["config"] != results["config"]:
            raise ValueError(f"{path} was run with another configuration than {parts[0]}")
        if not results:
            results = {k: v for k, v in part.items() if k not in ("experiments", "seconds", "cpu_seconds")}
            results.update(experiments={}, seconds={}, cpu_seconds={})
        for name, value in part.get("experiments", {}).items():
            results["experiments"][name] = value
            results["seconds"][name] = part["seconds"][name]
            results["cpu_seconds"][name] = part["cpu_seconds"][name]
    results["wall_seconds"] = round(sum(results["seconds"].values()), 1)
    results["cpu_seconds_total"] = round(sum(results["cpu_seconds"].values()), 1)
    results["complete"] = set(results["experiments"]) == set(SETTINGS)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_rounded(results)) + "\n")
    return results


def load_results(path: Path | None = None) -> dict:
    """The stored full-size results (``data/results/attacks_survey.json``), checked complete."""
    path = default_path() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild it with `{COMMAND}` (about 20 min of CPU)")
    results = json.loads(path.read_text())
    if not results.get("complete"):
        raise ValueError(f"{path} is incomplete (a run was interrupted); finish it with `{COMMAND}`")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few digits per experiment, printed only")
    parser.add_argument("--out", type=Path, default=None, help="results file (default: data/results/)")
    parser.add_argument("--only", nargs="*", help="run only these experiments")
    parser.add_argument("--merge", nargs="+", type=Path, help="merge these results files into --out")
    args = parser.parse_args(argv)
    if args.merge:
        merge_results(args.merge, args.out or default_path())
    elif args.quick:
        results = run_survey(QUICK, None, args.only)
        print(json.dumps({k: v for k, v in results["experiments"].items()}, indent=1)[:6000])
    else:
        run_survey(FULL, args.out or default_path(), args.only)


if __name__ == "__main__":
    main()
