"""The experiments of notebook 03 on trained models: why deep nets are fooled, measured.

Goodfellow, Shlens & Szegedy 2015 (§3) explain adversarial examples by linearity: a step of
ε·sign(w) moves a linear score by ε‖w‖₁, which grows with the number of inputs. FGSM (eq. 3
of the paper, ``coursekit.attacks.fgsm``) is this step applied to the loss linearised around x.

3. :func:`resolution_experiment`: logistic regression on 3-vs-7 MNIST at 7×7, 14×14, 28×28;
   FGSM error at fixed ε grows with the resolution (after Goodfellow et al. 2015, §5 and Fig. 2).
4. :func:`logits_along_fgsm` + :func:`linear_fit_r2`: logits of a deep net along the FGSM
   direction are nearly straight lines in ε (Goodfellow et al. 2015, Fig. 4).
5. :func:`vulnerability_table`: input-gradient norm against the loss rise under FGSM (first
   order: ε‖∇ₓL‖₁) and against robust accuracy, across models.
6. :func:`plane_directions`, :func:`decision_plane`, :func:`boundary_distance`: decision
   regions in the plane of the gradient direction and a random orthogonal direction (Liu,
   Chen, Liu & Song 2017, "Delving into Transferable Adversarial Examples", ICLR; arXiv 2016,
   Fig. 3).

Neighbours: sections 1 and 2 (the exact board example, the dimension demo) are in
``board.py``; the models compared here in ``models.py``; the figures in ``plots.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks import fgsm, pgd
from ..attacks._common import check_attack_args, check_images, eval_mode, input_gradient
from ..data import mnist
from ..train import accuracy, predict, train_classifier
from .models import LogisticRegression

# ---------------------------------------------------------------------------------------------
# 3. Logistic regression at several input resolutions
# ---------------------------------------------------------------------------------------------

def subsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Keep every k-th pixel (k = 28 / size) of 28×28 images: (N, C, 28, 28) → (N, C, size, size).

    Each kept input is an original MNIST pixel, so the resolutions differ only in how many
    inputs there are, not in what a single input looks like (averaging would blur them)."""
    check_images(x)
    if not (isinstance(size, int) and size >= 1 and x.shape[-1] % size == 0 and x.shape[-2] % size == 0):
        raise ValueError(f"size must be an int dividing the image side {tuple(x.shape[-2:])}, got {size!r}")
    k = x.shape[-1] // size
    return x[..., k // 2::k, k // 2::k]


def binary_mnist(split: str, digits: tuple[int, int] = (3, 7), n: int | None = None):
    """MNIST ``split`` restricted to two digits; labels 0 for ``digits[0]``, 1 for ``digits[1]``.
    Returns (x: N×1×28×28 in [0, 1], y: N int64), the first ``n`` such digits (all if None)."""
    a, c = digits
    if a == c or not {a, c} <= set(range(10)):
        raise ValueError(f"digits must be two different digits 0-9, got {digits!r}")
    ds = mnist(split)
    keep = (ds.targets == a) | (ds.targets == c)
    x = ds.images[keep][:n].unsqueeze(1).float().div_(255)
    y = (ds.targets[keep][:n] == c).long()
    return x, y


@dataclass
class ResolutionResult:
    size: int                   # images are size × size
    n_inputs: int               # size², the dimension n of x
    model: LogisticRegression
    clean_error: float          # test error without attack
    fgsm_error: float           # test error under FGSM at ε
    w_l1: float                 # ‖w‖₁: FGSM moves the logit by up to ε‖w‖₁


def resolution_experiment(sizes: Sequence[int] = (7, 14, 28), eps: float = 0.1,
                          n_train: int = 12_000, n_test: int = 2_000, epochs: int = 5,
                          lr: float = 0.02, digits: tuple[int, int] = (3, 7), seed: int = 0,
                          device=None) -> list[ResolutionResult]:
    """Train logistic regression on ``digits`` of MNIST subsampled to each size (same images,
    same seed, same training), then attack the test digits with FGSM at a fixed ``eps``.

    Goodfellow et al. 2015 (§5, Fig. 2) attack logistic regression on 3s vs 7s; here the input
    resolution varies, so the number of inputs n = size² grows while each pixel moves by ε."""
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    x_train, y_train = binary_mnist("train", digits, n_train)
    x_test, y_test = binary_mnist("test", digits, n_test)
    x_test, y_test = x_test.to(device), y_test.to(device)
    results = []
    for size in sizes:
        with torch.random.fork_rng():          # the same start for every size; the caller's RNG untouched
            torch.manual_seed(seed)
            model = LogisticRegression(size).to(device)
            train_classifier(model, subsample(x_train, size), y_train, epochs=epochs, lr=lr,
                             seed=seed, progress=False)
        model.eval()
        x_small = subsample(x_test, size)
        x_adv = fgsm(model, x_small, y_test, eps)
        results.append(ResolutionResult(
            size=size, n_inputs=size * size, model=model,
            clean_error=1 - accuracy(model, x_small, y_test),
            fgsm_error=1 - accuracy(model, x_adv, y_test),
            w_l1=model.w.abs().sum().item()))
    return results


# ---------------------------------------------------------------------------------------------
# 4. Deep nets are nearly linear along the adversarial direction
# ---------------------------------------------------------------------------------------------

def logits_along_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                      eps_values: Sequence[float]) -> torch.Tensor:
    """Logits of ``model`` at FGSM(x, ε) for each ε in ``eps_values`` (all in [0, 1]): (E, N, K).

    sign(∇ₓL) is taken once at x, so every ε lies on the same ray, clipped to [0, 1] as the
    attack does (Goodfellow et al. 2015, Fig. 4). The ray is read off one call of ``fgsm``:
    with d = sign(fgsm(x, ε=1) − x), clip(x + ε·d) = fgsm(x, ε) for every ε in [0, 1] (a
    pixel whose step is clipped away at ε = 1 is one that sits at 0 or 1 and cannot move)."""
    check_attack_args(x, y)
    if len(eps_values) < 2 or min(eps_values) < 0 or max(eps_values) > 1:
        raise ValueError(f"eps_values must hold at least two values in [0, 1], got {list(eps_values)}")
    d = (fgsm(model, x, y, 1.0) - x).sign()                                  # (N, C, H, W)
    return torch.stack([predict(model, (x + float(e) * d).clamp(0, 1)) for e in eps_values])


def linear_fit_r2(eps_values: Sequence[float], logits: torch.Tensor) -> torch.Tensor:
    """R² of a straight-line fit of each example's logits against ε, pooled over the K classes.

    ``logits`` is (E, N, K) as from :func:`logits_along_fgsm`. For example i,
    R²ᵢ = 1 − Σ_k Σ_e (ℓ − ℓ̂)² / Σ_k Σ_e (ℓ − mean_e ℓ)², with ℓ̂ the least-squares line
    of logit k in ε. Returns (N,)."""
    eps = torch.as_tensor(list(eps_values), dtype=torch.float64)
    if logits.ndim != 3 or logits.shape[0] != len(eps):
        raise ValueError(f"logits must be (E, N, K) with E = {len(eps)}, got {tuple(logits.shape)}")
    ell = logits.detach().double().cpu()
    design = torch.stack([torch.ones_like(eps), eps], 1)                  # (E, 2)
    coef = torch.linalg.lstsq(design, ell.flatten(1)).solution            # (2, N·K)
    resid = ell.flatten(1) - design @ coef                                # (E, N·K)
    ss_res = resid.pow(2).view_as(ell).sum((0, 2))
    ss_tot = (ell - ell.mean(0)).pow(2).sum((0, 2))
    return 1 - ss_res / ss_tot.clamp_min(1e-12)


# ---------------------------------------------------------------------------------------------
# 5. Several models: input-gradient norm against robust accuracy
# ---------------------------------------------------------------------------------------------

def input_gradient_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, p: float = 1) -> torch.Tensor:
    """‖∇ₓ L(x, y)‖_p per example (N,). With p = 1 it is the first-order rise of the loss under
    the L∞ step ε·sign(∇ₓL): L(x + ε·sign(∇ₓL)) ≈ L(x) + ε‖∇ₓL‖₁."""
    check_attack_args(x, y)
    with eval_mode(model):
        grad, _ = input_gradient(model, x, y)
    return grad.flatten(1).norm(p=p, dim=1)


def first_order_loss_rise(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          eps: float) -> tuple[float, float]:
    """Mean rise of the loss under FGSM at ``eps``, measured and predicted to first order:
    L(x_adv) − L(x) ≈ ∇ₓL · (x_adv − x), which is ε‖∇ₓL‖₁ where no pixel is clipped
    (Goodfellow et al. 2015 §3; Simon-Gabriel et al. 2019, "First-order adversarial
    vulnerability of neural networks and input dimension", eq. 2). Returns (measured, predicted)."""
    check_attack_args(x, y, eps)
    with eval_mode(model):
        grad, logits = input_gradient(model, x, y)
    x_adv = fgsm(model, x, y, eps)
    loss = F.cross_entropy(logits, y, reduction="none")
    loss_adv = F.cross_entropy(predict(model, x_adv), y, reduction="none")
    predicted = (grad * (x_adv - x)).flatten(1).sum(1)
    return (loss_adv - loss).mean().item(), predicted.mean().item()


def vulnerability_table(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor,
                        eps: float = 0.1, small_eps: float = 0.001, pgd_steps: int = 10,
                        seed: int = 0) -> list[dict]:
    """For each model: mean ‖∇ₓL‖₁ on (x, y); the loss rise under FGSM at ``small_eps``,
    measured and first-order (:func:`first_order_loss_rise`); clean accuracy; and accuracy
    under FGSM and PGD at ``eps`` (L∞, ``pgd_steps`` steps of 2.5·ε/steps, Madry et al. 2018)."""
    check_attack_args(x, y, eps)
    rows = []
    for name, model in models.items():
        g = torch.Generator().manual_seed(seed)
        x_pgd = pgd(model, x, y, eps, alpha=2.5 * eps / pgd_steps, steps=pgd_steps, generator=g)
        rise, rise_first_order = first_order_loss_rise(model, x, y, small_eps)
        rows.append({"model": name,
                     "grad_l1": input_gradient_norm(model, x, y).mean().item(),
                     "loss_rise": rise, "loss_rise_first_order": rise_first_order,
                     "clean_acc": accuracy(model, x, y),
                     "fgsm_acc": accuracy(model, fgsm(model, x, y, eps), y),
                     "pgd_acc": accuracy(model, x_pgd, y)})
    return rows


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's ρ (Pearson correlation of the ranks; no ties expected)."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need two sequences of the same length >= 2, got {len(a)} and {len(b)}")
    ra = torch.as_tensor(list(a), dtype=torch.float64).argsort().argsort().double()
    rb = torch.as_tensor(list(b), dtype=torch.float64).argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra @ rb / (ra.norm() * rb.norm())).item()


# ---------------------------------------------------------------------------------------------
# 6. Decision regions in the plane (gradient direction, random orthogonal direction)
# ---------------------------------------------------------------------------------------------

def plane_directions(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors u = ∇ₓL / ‖∇ₓL‖₂ (of ``model`` at one image x, shape (1, C, H, W)) and v, a
    random Gaussian direction made orthogonal to u (Gram–Schmidt) and normalised (Liu et al.)."""
    check_attack_args(x, y)
    if len(x) != 1:
        raise ValueError(f"x must hold a single image (1, C, H, W), got {tuple(x.shape)}")
    with eval_mode(model):
        grad, _ = input_gradient(model, x, y)
    u = grad / grad.norm().clamp_min(1e-12)
    r = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
    v = r - (r * u).sum() * u
    return u, v / v.norm()


def decision_plane(model: nn.Module, x: torch.Tensor, u: torch.Tensor, v: torch.Tensor,
                   extent: float = 6.0, steps: int = 41) -> torch.Tensor:
    """Predicted labels at x + a·u + b·v for a, b on a ``steps``×``steps`` grid over
    [−extent, extent] (L2 units): (steps, steps), row i is b = grid[i], column j is a = grid[j].

    The points are not clipped to [0, 1]: the plane shows the function the model computes,
    as in Liu et al.'s Fig. 3."""
    if not extent > 0 or not (isinstance(steps, int) and steps >= 2):
        raise ValueError(f"need extent > 0 and an int steps >= 2, got extent={extent}, steps={steps!r}")
    grid = torch.linspace(-extent, extent, steps, dtype=x.dtype, device=x.device)
    b, a = torch.meshgrid(grid, grid, indexing="ij")                       # (S, S) each
    points = x + a.reshape(-1, 1, 1, 1) * u + b.reshape(-1, 1, 1, 1) * v   # (S², C, H, W)
    return predict(model, points).argmax(1).view(steps, steps).cpu()


def boundary_distance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, direction: torch.Tensor,
                      max_dist: float = 10.0, steps: int = 101) -> torch.Tensor:
    """For each image xᵢ, the smallest t on a grid of [0, max_dist] where the label of
    xᵢ + t·dᵢ is no longer yᵢ (inf if it never changes). ``direction`` is (N, C, H, W), one
    unit direction per image; returns (N,)."""
    check_attack_args(x, y)
    if direction.shape != x.shape:
        raise ValueError(f"direction must have the shape of x {tuple(x.shape)}, got {tuple(direction.shape)}")
    ts = torch.linspace(0, max_dist, steps, dtype=x.dtype, device=x.device)
    out = torch.full((len(x),), math.inf)
    for i in range(len(x)):
        labels = predict(model, x[i] + ts.view(-1, 1, 1, 1) * direction[i]).argmax(1).cpu()
        wrong = (labels != y[i].cpu()).nonzero()
        if len(wrong):
            out[i] = ts[wrong[0, 0]].item()
    return out
