"""Notebook 01's experiments, one function each, with the controls they are measured against.

Notebook 01 calls these functions on a few digits, live; :func:`run_survey` (``run.py``) calls
the same ones at full size for ``data/results/attacks_survey.json``.

Every experiment reports **a control**: the same models under random noise of the same size
(each pixel moved by ±ε with a random sign, clipped to [0, 1]) or a random transformation.
An attack only shows something about *adversarial* directions where it beats its control.

Neighbours in ``coursekit/attacks/survey/``: the sizes of the full run are in ``settings.py``,
the run in ``run.py``, the results file in ``store.py``, the command line in ``cli.py``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .._common import eval_mode, predict_labels
from ..blackbox import QueryCounter, finite_difference_attack, spsa
from ..cw import cw_l2
from ..deepfool import deepfool, rho_adv
from ..gradient import fgsm, pgd
from ..jsma import jsma
from ..patch import adversarial_patch, patch_success_rate
from ..spatial import eot_pgd, random_rotate_translate, spatial_attack, survival_rate
from ..transfer import leave_one_out_rates, mi_fgsm, transfer_rates
from ..universal import fooling_rate, universal_perturbation


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
