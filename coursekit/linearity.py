"""Why adversarial examples exist: the linear explanation, from the board example to deep nets.

Goodfellow, Shlens & Szegedy 2015, "Explaining and Harnessing Adversarial Examples", §3:
for a linear score ŷ = wᵀx + b and a perturbation η with ‖η‖∞ ≤ ε,

    wᵀ(x + η) = wᵀx + wᵀη,   max_{‖η‖∞ ≤ ε} wᵀη = ε‖w‖₁   at η = ε·sign(w)        (eq. of §3)

so the score moves by ε‖w‖₁, which grows with the number of inputs n (≈ ε·m·n for an average
weight magnitude m) while no input moves by more than ε. FGSM (eq. 3 of the paper,
``coursekit.attacks.fgsm``) is this step applied to the loss linearised around x.

Symbols: ``w``, ``b``, ``x`` as in the lecture's board example; ``eps`` is ε; ``x_star`` is
x* = x + ε·wᵀ and ``x_sign`` is x + ε·sign(w). This module holds the experiments of notebook 03:

1. :func:`board_example`: the lecture's six-input example, in exact rational arithmetic.
2. :func:`linear_dimension_demo`: ε‖w‖₁ against the number of inputs (behind the widget).
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
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from numbers import Rational
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from .attacks import fgsm, pgd
from .attacks._common import check_attack_args, check_images, eval_mode, input_gradient
from .data import mnist
from .models import available, load_pretrained
from .models.classifiers import Normalize
from .train import accuracy, predict, train_classifier

# ---------------------------------------------------------------------------------------------
# 1. The board example (exact arithmetic)
# ---------------------------------------------------------------------------------------------

BOARD_W = (1, 3, -1, 2, 2, 3)
BOARD_B = 0
BOARD_X = (1, -1, 2, 0, 3, -2)
BOARD_EPS = Fraction(1, 5)  # ε = 0.2


def exact(value) -> Fraction:
    """``value`` as an exact Fraction: ints and Fractions as they are, floats and strings through
    their decimal text (0.2 → 1/5, not the binary double 0.2000000000000000111…)."""
    if isinstance(value, bool) or not isinstance(value, (Rational, float, str)):
        raise TypeError(f"expected a number (int, Fraction, float or decimal string), got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        value = repr(value)
    return Fraction(value)


def _vector(v, name: str) -> tuple[Fraction, ...]:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of numbers, got {v!r}")
    return tuple(exact(a) for a in v)


def _same_length(w, x) -> None:
    if len(w) != len(x):
        raise ValueError(f"w and x must have the same length, got {len(w)} and {len(x)}")


def _check_eps(eps) -> Fraction:
    eps = exact(eps)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    return eps


def linear_output(w, x, b=0) -> Fraction:
    """ŷ = wᵀx + b, exactly (the lecture's linear regression, no activation)."""
    w, x = _vector(w, "w"), _vector(x, "x")
    _same_length(w, x)
    return sum((wi * xi for wi, xi in zip(w, x)), exact(b))


def sign(v) -> tuple[int, ...]:
    """sign(v) coordinate-wise, with sign(0) = 0 (as torch.sign)."""
    return tuple((a > 0) - (a < 0) for a in _vector(v, "v"))


def step_along_w(x, w, eps) -> tuple[Fraction, ...]:
    """x* = x + ε·wᵀ: the step along the gradient ∂ŷ/∂x = wᵀ. Then ŷ* = ŷ + ε‖w‖₂²."""
    w, x, eps = _vector(w, "w"), _vector(x, "x"), _check_eps(eps)
    _same_length(w, x)
    return tuple(xi + eps * wi for xi, wi in zip(x, w))


def step_along_sign(x, w, eps) -> tuple[Fraction, ...]:
    """x + ε·sign(w): the best step with ‖η‖∞ ≤ ε. Then ŷ rises by ε‖w‖₁ (Goodfellow et al. §3)."""
    w, x, eps = _vector(w, "w"), _vector(x, "x"), _check_eps(eps)
    _same_length(w, x)
    return tuple(xi + eps * si for xi, si in zip(x, sign(w)))


@dataclass(frozen=True)
class BoardExample:
    """Every number of the board example; all exact Fractions."""
    eps: Fraction
    y_hat: Fraction                 # ŷ = wᵀx + b
    x_star: tuple[Fraction, ...]    # x + ε·wᵀ
    y_star: Fraction                # ŷ* = ŷ + ε‖w‖₂²
    x_sign: tuple[Fraction, ...]    # x + ε·sign(w)
    y_sign: Fraction                # ŷ + ε‖w‖₁
    w_sq: Fraction                  # ‖w‖₂² = wᵀw
    w_l1: Fraction                  # ‖w‖₁
    max_move_star: Fraction         # ‖x* − x‖∞ = ε·max|wᵢ|
    max_move_sign: Fraction         # ‖x_sign − x‖∞ = ε (if w has a nonzero entry)


def board_example(w=BOARD_W, x=BOARD_X, b=BOARD_B, eps=BOARD_EPS) -> BoardExample:
    """The lecture's board example. With the defaults: ŷ = −4, ŷ* = −4 + 0.2·28 = 8/5 = 1.6
    (the board's hand arithmetic reached 0.5), and ŷ after the sign step = −4 + 0.2·12 = −8/5."""
    w, x, eps = _vector(w, "w"), _vector(x, "x"), _check_eps(eps)
    _same_length(w, x)
    x_star, x_sign = step_along_w(x, w, eps), step_along_sign(x, w, eps)
    return BoardExample(
        eps=eps, y_hat=linear_output(w, x, b),
        x_star=x_star, y_star=linear_output(w, x_star, b),
        x_sign=x_sign, y_sign=linear_output(w, x_sign, b),
        w_sq=sum(wi * wi for wi in w), w_l1=sum(abs(wi) for wi in w),
        max_move_star=max(abs(a - c) for a, c in zip(x_star, x)),
        max_move_sign=max(abs(a - c) for a, c in zip(x_sign, x)),
    )


# ---------------------------------------------------------------------------------------------
# 2. The dimension argument on a random linear model (the widget's model)
# ---------------------------------------------------------------------------------------------

def linear_dimension_demo(n: int, eps: float, seed: int = 0, max_n: int = 4096) -> dict:
    """A linear score ŷ = wᵀx on ``n`` inputs, w and x drawn N(0, 1) from ``seed``, attacked by
    x + ε·sign(w). Coordinates are the first n of fixed length-``max_n`` draws, so raising n
    only adds inputs. Returns ŷ before and after, the change ε‖w‖₁ (expected ε·n·√(2/π)),
    and the largest move of a single input (ε)."""
    if not (isinstance(n, int) and 1 <= n <= max_n):
        raise ValueError(f"n must be an int in 1..{max_n}, got {n!r}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(max_n, generator=g, dtype=torch.float64)[:n]
    x = torch.randn(max_n, generator=g, dtype=torch.float64)[:n]
    x_adv = x + eps * w.sign()
    return {"n": n, "eps": eps, "y_hat": (w @ x).item(), "y_adv": (w @ x_adv).item(),
            "change": eps * w.abs().sum().item(), "expected_change": eps * n * math.sqrt(2 / math.pi),
            "max_move": (x_adv - x).abs().max().item()}


# ---------------------------------------------------------------------------------------------
# 3. Logistic regression at several input resolutions
# ---------------------------------------------------------------------------------------------

class LogisticRegression(nn.Module):
    """P(y = 1 | x) = σ(wᵀx + b) on (N, 1, size, size) images, returned as two logits (0, wᵀx + b)
    so that cross-entropy on them is exactly the logistic loss and attacks apply unchanged."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.linear = nn.Linear(size * size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x.flatten(1))                   # (N, 1)
        return torch.cat([torch.zeros_like(z), z], 1)   # (N, 2)

    @property
    def w(self) -> torch.Tensor:
        return self.linear.weight.detach().flatten()    # (size²,)


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

def _is_classifier(model: nn.Module, device) -> bool:
    """A shipped MNIST classifier maps (1, 1, 28, 28) images to (1, 10) logits; generators
    (``latent_dim``) and translators (``g_ab``) are not classifiers."""
    if hasattr(model, "latent_dim") or hasattr(model, "g_ab"):
        return False
    try:
        with torch.no_grad(), eval_mode(model):
            out = model(torch.zeros(1, 1, 28, 28, device=device))
    except RuntimeError:  # shape mismatch: the model takes something else
        return False
    return isinstance(out, torch.Tensor) and tuple(out.shape) == (1, 10)


def shipped_classifiers(device=None, defended: bool = False) -> dict[str, nn.Module]:
    """The pretrained MNIST classifiers that ``coursekit.models.available()`` lists now,
    trained the ordinary way; ``defended=True`` adds the adversarially trained and certified
    ones of notebook 02 (``coursekit.defenses.DEFENDED_MODELS``), which are far less linear
    around the data, by design."""
    from .defenses import DEFENDED_MODELS  # lazy: the defenses build on this package's attacks
    models = {}
    for name in available():
        if name in DEFENDED_MODELS and not defended:
            continue
        model = load_pretrained(name, device=device)
        if _is_classifier(model, device):
            models[name] = model
    return models


def _softmax_regression() -> nn.Module:
    return nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(28 * 28, 10))


def _small_mlp() -> nn.Module:
    return nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 10))


# Models trained here when fewer classifiers ship: (name, constructor, epochs, learning rate).
EXTRA_MODELS: list[tuple[str, Callable[[], nn.Module], int, float]] = [
    ("softmax-regression (trained here)", _softmax_regression, 2, 0.01),
    ("small-mlp (trained here)", _small_mlp, 2, 0.003),
]


def comparison_models(min_models: int = 3, n_train: int = 10_000, seed: int = 0,
                      device=None) -> dict[str, nn.Module]:
    """The shipped classifiers, topped up with small models trained on the spot (first
    ``n_train`` training digits, a few seconds each) until there are ``min_models``."""
    models = shipped_classifiers(device)
    most = len(models) + len(EXTRA_MODELS)
    if not (isinstance(min_models, int) and 1 <= min_models <= most):
        raise ValueError(f"min_models must be an int in 1..{most}, got {min_models!r}")
    extras = iter(EXTRA_MODELS)
    while len(models) < min_models:
        name, make, epochs, lr = next(extras)
        x, y = mnist("train").tensors(n_train)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = make().to(device)
            train_classifier(model, x, y, epochs=epochs, lr=lr, seed=seed, progress=False)
        models[name] = model
    return models


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


# ---------------------------------------------------------------------------------------------
# Plots (every one titled and labelled; they only draw data computed above)
# ---------------------------------------------------------------------------------------------

def plot_resolution(results: Sequence[ResolutionResult], eps: float):
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    n = [r.n_inputs for r in results]
    ax.plot(n, [r.fgsm_error for r in results], "o-", label=f"under FGSM, ε = {eps}")
    ax.plot(n, [r.clean_error for r in results], "s--", label="clean")
    ax.set_xscale("log")
    ax.set_xticks(n, [f"{r.n_inputs}\n({r.size}×{r.size})" for r in results])
    ax.minorticks_off()
    ax.set(xlabel="number of inputs n (log scale)", ylabel="test error (3 vs 7)", ylim=(0, 1.02),
           title="Logistic regression: more inputs, more damage at one ε")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_logits_along_fgsm(eps_values: Sequence[float], logits: torch.Tensor, y: torch.Tensor,
                           r2: torch.Tensor, examples: Sequence[int] = (0, 1, 2)):
    """One panel per example: the 10 logits against ε (true class drawn thick)."""
    fig, axes = plt.subplots(1, len(examples), figsize=(4 * len(examples), 3.4), squeeze=False)
    for ax, i in zip(axes[0], examples):
        for k in range(logits.shape[2]):
            ax.plot(eps_values, logits[:, i, k].cpu(), lw=3 if k == int(y[i]) else 1,
                    label=f"{k}" + (" (true)" if k == int(y[i]) else ""))
        ax.set(xlabel="ε along sign(∇ₓL)", ylabel="logit", title=f"digit {int(y[i])}: R² = {r2[i]:.3f}")
    axes[0, -1].legend(fontsize=7, ncol=2, title="class")
    fig.suptitle("mnist-cnn logits along the FGSM direction are close to straight lines")
    fig.tight_layout()
    return fig


def plot_vulnerability(rows: Sequence[dict], eps: float, small_eps: float):
    """Left: loss rise under FGSM at ``small_eps`` against ‖∇ₓL‖₁ (measured and first order);
    right: accuracy under PGD at ``eps`` against the same gradient norm."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.9))
    for r in rows:
        dot = ax1.scatter(r["grad_l1"], r["loss_rise"], s=50)
        ax1.scatter(r["grad_l1"], r["loss_rise_first_order"], s=90, marker="x", color=dot.get_facecolor())
        ax2.scatter(r["grad_l1"], r["pgd_acc"], s=50)
        for ax, v in ((ax1, r["loss_rise"]), (ax2, r["pgd_acc"])):
            ax.annotate(r["model"], (r["grad_l1"], v), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax1.set(xscale="log", yscale="log", xlabel="mean input-gradient norm ‖∇ₓL‖₁ (log scale)",
            ylabel=f"mean loss rise under FGSM, ε = {small_eps}",
            title="Small ε: damage = gradient · step (● measured, × first order)")
    ax2.set(xscale="log", xlabel="mean input-gradient norm ‖∇ₓL‖₁ (log scale)",
            ylabel=f"accuracy under PGD, ε = {eps}", ylim=(-0.02, 1.02),
            title=f"Large ε: robust accuracy at ε = {eps}")
    fig.tight_layout()
    return fig


def plot_decision_planes(planes: dict[str, torch.Tensor], extent: float, y_true: int,
                         reference: str, n_classes: int = 10):
    """Side-by-side label maps (Liu et al. 2016, Fig. 3); the image x sits at the centre."""
    cmap = plt.get_cmap("tab10", n_classes)
    fig, axes = plt.subplots(1, len(planes), figsize=(3.6 * len(planes) + 1.2, 3.9), squeeze=False,
                             layout="constrained")
    for ax, (name, labels) in zip(axes[0], planes.items()):
        im = ax.imshow(labels.numpy(), origin="lower", extent=(-extent, extent, -extent, extent),
                       cmap=cmap, vmin=-0.5, vmax=n_classes - 0.5, interpolation="nearest")
        ax.plot(0, 0, "k*", ms=10)
        ax.set(title=name, xlabel=f"along ∇ₓL of {reference} (L2)")
    axes[0, 0].set_ylabel("random orthogonal direction (L2)")
    fig.colorbar(im, ax=axes[0].tolist(), ticks=range(n_classes), label="predicted class")
    fig.suptitle(f"Decision regions around a test digit {y_true} (★ = the digit)")
    return fig
