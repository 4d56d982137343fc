"""Adversarial training: fit the model on adversarial examples forged at every step.

Madry et al. 2018 ("Towards Deep Learning Models Resistant to Adversarial Attacks", eq. 2.1)
write it as a saddle-point problem,

    min_θ  E_(x,y) [ max_{‖δ‖∞ ≤ ε} L(θ, x + δ, y) ],

whose inner max an attack on the current model approximates, and whose outer min is ordinary
training on what the attack returns. Which attack (the *inner attack*) and which loss give the
variants of the lecture:

================  ====================================================  ==========================
attack            x_adv                                                 paper
================  ====================================================  ==========================
"none"            x (standard training)
"fgsm"            x + ε·sign(∇ₓL(x, y))                                 Goodfellow et al. 2015
"fast"            δ ~ U(−ε, ε)ᵈ, δ ← Π(δ + α·sign(∇L(x + δ))), α=1.25ε  Wong, Rice & Kolter 2020
"pgd"             ``steps`` steps of size α from a random start         Madry et al. 2018
"trades"          ``steps`` steps of size α up KL(f(x) ‖ f(x')), from   Zhang et al. 2019,
                  x' = x + 0.001·N(0, I) (no label needed)              Algorithm 1
"trades-uniform"  the same steps from x' = x + U(−ε, ε)ᵈ                Madry et al.'s start
"trades-vertex"   the same steps from a random corner x + ε·{−1, +1}ᵈ   where Square searches
callable          ``attack(model, x, y, eps, alpha, steps) -> x_adv``
================  ====================================================  ==========================

==========  ====================================================  ==========================
loss        on a batch (L: mean cross-entropy, z: logits)         paper
==========  ====================================================  ==========================
"adv"       L(x_adv, y)                                           Madry; Wong et al.
"mixed"     L(x, y) + λ·L(x_adv, y)                               the lecture's L_new;
                                                                  Goodfellow et al. eq. 6
"alp"       ½[L(x, y) + L(x_adv, y)] + λ·mean ‖z(x) − z(x_adv)‖²  Kannan, Kurakin &
                                                                  Goodfellow 2018
"trades"    L(x, y) + λ·mean KL(f(x) ‖ f(x_adv)), f = softmax(z)  Zhang et al. 2019, eq. 5
                                                                  (λ is their 1/λ, "β")
==========  ====================================================  ==========================

The inner attack always runs on the model in eval mode (``coursekit.attacks._common.eval_mode``):
batch norm uses its running statistics and does not update them, dropout is off, and the input
gradient comes from ``torch.autograd.grad``, so no parameter's ``.grad`` is touched. Only the
training forward pass, in train mode, moves batch-norm statistics, as in ordinary training.

Catastrophic overfitting (Wong et al. 2020, §5): with FGSM from x, or a step α much larger
than ε, accuracy against the training attack soars while accuracy against PGD collapses to
about 0 within an epoch. :func:`adversarial_training` records clean, FGSM and PGD accuracy on
a held-out batch after every epoch, so that a plot of the history shows it. On MNIST the
random start must not be clipped to [0, 1] before the gradient is taken (see
:func:`fast_fgsm`): clipped, it falls into catastrophic overfitting in the first epoch.

Neighbours: ``robust_model.py`` trains a fresh MNIST model by a recipe (:func:`train_defended`)
and pretrains the shipped robust one; ``static.py`` holds the lecture's cheaper idea, training on
a static adversarial set; ``plots.py`` draws the histories recorded here.
"""
from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..attacks import apgd, fgsm, pgd
from ..attacks._common import (check_attack_args, check_class_labels, check_generator, check_images,
                              check_positive, eval_mode, input_gradient, project_linf)
from ..validate import check_nonempty
from ..train import accuracy, batches, predict, train_classifier

# The TRADES inner attacks, each with the start of its steps (see :func:`trades_attack`).
TRADES_ATTACKS = {"trades": "gaussian", "trades-uniform": "uniform", "trades-vertex": "vertex"}
TRADES_STARTS = tuple(TRADES_ATTACKS.values())
ATTACKS = ("none", "fgsm", "fast", "pgd", *TRADES_ATTACKS)
LOSSES = ("adv", "mixed", "alp", "trades")


@dataclass(frozen=True)
class AdvRecipe:
    """One adversarial-training recipe: the inner attack, the loss, and the training budget.

    ``alpha`` is the attack's step at the full ``eps``; while ε ramps up (linearly from 0 over
    the first ``eps_ramp`` share of training) the step scales with it, α_t = α·ε_t/ε, so α/ε
    stays as chosen (1.25 for "fast", Wong et al. 2020 §4). ``steps`` counts PGD iterations
    ("pgd", "trades" and callables only). ``lam`` is λ of the "mixed", "alp" and "trades" losses. Training is
    :func:`coursekit.train.train_classifier`: Adam with a one-cycle learning rate peaking at
    ``lr`` (Wong et al. use a cyclic rate peaking at 5e-3 for MNIST).
    """

    attack: str | Callable = "fast"
    eps: float = 0.3
    alpha: float = 0.375
    steps: int = 1
    loss: str = "adv"
    lam: float = 1.0
    eps_ramp: float = 0.0
    epochs: int = 10
    lr: float = 5e-3
    batch_size: int = 100

    def __post_init__(self):
        if not (callable(self.attack) or self.attack in ATTACKS):
            raise ValueError(f"attack must be one of {ATTACKS} or a callable "
                             f"attack(model, x, y, eps, alpha, steps), got {self.attack!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        check_positive("eps", self.eps, allow_zero=True)
        if self.eps > 1:
            raise ValueError(f"eps must be <= 1 for images in [0, 1], got {self.eps!r}")
        check_positive("alpha", self.alpha)
        check_positive("steps", self.steps, integer=True)
        check_positive("lam", self.lam, allow_zero=True)
        if not (isinstance(self.eps_ramp, numbers.Real) and 0 <= self.eps_ramp <= 1):
            raise ValueError(f"eps_ramp must be a share of training in [0, 1], got {self.eps_ramp!r}")
        check_positive("epochs", self.epochs, integer=True)
        check_positive("lr", self.lr)
        check_positive("batch_size", self.batch_size, integer=True)

    def eps_at(self, t: float) -> float:
        """ε after a share ``t`` of training: linear from 0 to ``eps`` over ``eps_ramp``, then ``eps``."""
        return self.eps if t >= self.eps_ramp else self.eps * t / self.eps_ramp


# Recipes for MNIST at ε = 0.3 with each paper's attack settings; change any field with
# dataclasses.replace(RECIPES["pgd"], steps=10, epochs=3).
RECIPES = {
    "standard": AdvRecipe(attack="none"),
    "fgsm": AdvRecipe(attack="fgsm"),                                  # catastrophic overfitting
    "fast": AdvRecipe(attack="fast", alpha=0.375),                     # Wong et al. 2020, MNIST
    "pgd": AdvRecipe(attack="pgd", alpha=0.01, steps=40),              # Madry et al. 2018, MNIST
    "mixed": AdvRecipe(attack="fast", alpha=0.375, loss="mixed", lam=1.0),   # the lecture's L_new
    "alp": AdvRecipe(attack="pgd", alpha=0.01, steps=40, loss="alp", lam=0.5),  # Kannan et al.
}


def _unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a (Distributed)DataParallel wrapper: attacks run on the local copy."""
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        return model.module
    return model


@torch.enable_grad()
def fast_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """FGSM from a random start, the inner attack of "fast" adversarial training (Wong, Rice &
    Kolter 2020, Algorithm 3, lines 3-6):

        δ ~ U(−ε, ε)ᵈ;   δ ← clip_[−ε, ε](δ + α·sign(∇_δ L(x + δ, y)));   x_adv = clip_[0, 1](x + δ).

    As in the authors' code, the gradient is taken at x + δ *before* clipping to [0, 1]; only
    x_adv is clipped. On MNIST this matters: most pixels are 0, so a start clipped to [0, 1]
    (as ``pgd(..., steps=1)`` does) leaves half of them at δ = 0 and the start loses most of
    its randomness. With that start, Wong et al.'s MNIST recipe (10 epochs, seed 0) fell into
    catastrophic overfitting in its first epoch here: 95.6% FGSM but 0.6% PGD-10 accuracy on
    held-out digits; with this one it reached 91% PGD-10 accuracy.
    """
    check_attack_args(x, y, eps, model)
    check_positive("alpha", alpha)
    check_generator(generator)
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
    delta = (2 * u - 1) * eps                                   # (N, C, H, W), uniform in the ball
    with eval_mode(model):
        grad, _ = input_gradient(model, x.detach() + delta, y.long())
    delta = (delta + alpha * grad.sign()).clamp(-eps, eps)
    return (x.detach() + delta).clamp(0, 1)


@torch.enable_grad()
def trades_attack(model: nn.Module, x: torch.Tensor, eps: float, alpha: float, steps: int,
                  generator: torch.Generator | None = None, start: str = "gaussian") -> torch.Tensor:
    """The inner maximisation of TRADES (Zhang et al. 2019, Algorithm 1, lines 5-7):

        x' = x + 0.001·N(0, I);   x' ← Π_{B(x, ε) ∩ [0,1]}(x' + α·sign(∇_x' KL(f(x) ‖ f(x'))))

    ``steps`` times, with f the softmax of the model. It pushes the prediction away from the
    model's own prediction on x, so it needs no label. (The small Gaussian start is needed:
    at x' = x the KL divergence has zero gradient.) ``start`` picks another start:
    "uniform", x + U(−ε, ε)ᵈ (Madry et al.'s), or "vertex", a random corner x + ε·s,
    s ∈ {−1, +1}ᵈ, where Square's proposals live.
    """
    check_attack_args(x, torch.zeros(len(x), dtype=torch.long, device=x.device), eps, model)
    check_positive("alpha", alpha)
    check_positive("steps", steps, integer=True)
    if start not in TRADES_STARTS:
        raise ValueError(f"start must be one of {TRADES_STARTS}, got {start!r}")
    x = x.detach()
    draw = torch.randn if start == "gaussian" else torch.rand
    u = draw(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
    if start == "gaussian":
        delta = 0.001 * u
    elif start == "uniform":
        delta = eps * (2 * u - 1)
    else:                                                          # a corner: ±ε per pixel
        delta = eps * (2 * (u > 0.5).to(x.dtype) - 1)
    with eval_mode(model):
        p_clean = F.softmax(model(x), 1).detach()                  # (N, 10), fixed target
        x_adv = (x + delta).clamp(0, 1)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            kl = F.kl_div(F.log_softmax(model(x_adv), 1), p_clean, reduction="sum")
            (grad,) = torch.autograd.grad(kl, x_adv)
            x_adv = project_linf(x_adv.detach() + alpha * grad.sign(), x, eps)
    return x_adv


def inner_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: str | Callable,
                 eps: float, alpha: float, steps: int = 1,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """x_adv for a training batch, forged by ``attack`` (see the module's table) in eval mode."""
    net = _unwrap(model)
    if attack == "none" or eps == 0:
        return x.detach()
    with eval_mode(net):  # frozen batch-norm statistics, no dropout, even for a callable attack
        if attack == "fgsm":
            return fgsm(net, x, y, eps)
        if attack == "fast":
            return fast_fgsm(net, x, y, eps, alpha, generator=generator)
        if attack == "pgd":
            return pgd(net, x, y, eps, alpha, steps, random_start=True, generator=generator)
        if attack in TRADES_ATTACKS:
            return trades_attack(net, x, eps, alpha, steps, generator=generator,
                                 start=TRADES_ATTACKS[attack])
        return attack(net, x, y, eps, alpha, steps).detach()


def adversarial_loss(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor,
                     loss: str = "adv", lam: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss on a batch and its adversarial logits (N, 10); see the module's table.

    "mixed" and "alp" send clean and adversarial images through one forward pass, so batch
    norm sees one batch of 2N (Kannan et al.'s mixed minibatch).
    """
    check_attack_args(x, y, model=model)
    check_images(x_adv, "x_adv")
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have the shape of x {tuple(x.shape)}, got {tuple(x_adv.shape)}")
    if loss == "adv":
        logits_adv = model(x_adv)
        check_class_labels(y, logits_adv.shape[1])
        return F.cross_entropy(logits_adv, y), logits_adv
    logits_clean, logits_adv = model(torch.cat([x, x_adv])).chunk(2)   # (N, 10) each
    check_class_labels(y, logits_adv.shape[1])
    clean, adv = F.cross_entropy(logits_clean, y), F.cross_entropy(logits_adv, y)
    if loss == "mixed":
        return clean + lam * adv, logits_adv
    if loss == "alp":
        pairing = (logits_clean - logits_adv).pow(2).sum(1).mean()
        return (clean + adv) / 2 + lam * pairing, logits_adv
    if loss == "trades":
        kl = F.kl_div(F.log_softmax(logits_adv, 1), F.softmax(logits_clean, 1), reduction="batchmean")
        return clean + lam * kl, logits_adv
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def adversarial_loss_fn(recipe: AdvRecipe, generator: torch.Generator | None = None):
    """``recipe`` as the ``loss_fn(model, x, y, t)`` hook of ``coursekit.train.train_classifier``.

    Random starts draw from ``generator`` (default: the global torch generator, which a
    resumed ``train_classifier`` run restores).
    """
    def loss_fn(model, x, y, t):
        eps = recipe.eps_at(t)
        alpha = recipe.alpha * eps / recipe.eps if recipe.eps > 0 else recipe.alpha
        x_adv = inner_attack(model, x, y, recipe.attack, eps, alpha, recipe.steps, generator)
        return adversarial_loss(model, x, x_adv, y, recipe.loss, recipe.lam)
    return loss_fn


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def accuracy_under_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          attack: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
                          batch_size: int = 500, progress: bool = False, desc: str = "attack") -> float:
    """Share of ``x`` that ``model`` still labels ``y`` after ``attack(model, xb, yb) -> x_adv``.

    Runs batch by batch on the model's device; the model's mode is left as it was.
    """
    net = _unwrap(model)
    check_attack_args(x, y)
    check_positive("batch_size", batch_size, integer=True)
    check_nonempty(x)
    device = _model_device(net)
    correct = 0
    for idx in tqdm(batches(len(x), batch_size), total=-(-len(x) // batch_size), desc=desc,
                    disable=not progress, leave=False):
        xb, yb = x[idx].to(device), y[idx].to(device)
        x_adv = attack(net, xb, yb)
        logits = predict(net, x_adv, batch_size)
        check_class_labels(yb, logits.shape[1])
        correct += (logits.argmax(1) == yb).sum().item()
    return correct / len(x)


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                    steps: int = 50, alpha: float = 0.01, restarts: int = 10,
                    batch_size: int = 500, seed: int = 0, progress: bool = False) -> float:
    """Accuracy under L∞ PGD: ``steps`` steps of ``alpha`` from ``restarts`` random starts.

    The defaults are Wong et al. 2020's MNIST evaluation (PGD-50, α = 0.01, 10 restarts); an
    example counts as broken when any restart fools the model. Seeded, so it is repeatable.
    """
    g = torch.Generator().manual_seed(seed)

    def attack(net, xb, yb):
        return pgd(net, xb, yb, eps, alpha, steps, restarts=restarts, generator=g)
    return accuracy_under_attack(model, x, y, attack, batch_size, progress,
                                 desc=f"PGD-{steps}×{restarts}")


def held_out_accuracies(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                        pgd_steps: int = 10, seed: int = 0, apgd_steps: int | None = None) -> dict:
    """Clean, FGSM and PGD accuracy (PGD-``pgd_steps``, α = 2.5·ε/steps as Madry et al., one
    random start) on a held-out batch: the three curves that expose catastrophic overfitting.
    With ``apgd_steps``, also ``apgd_acc``: APGD-CE with that many steps (Croce & Hein 2020)."""
    record = {
        "clean_acc": accuracy(model, x, y),
        "fgsm_acc": accuracy_under_attack(model, x, y, lambda net, xb, yb: fgsm(net, xb, yb, eps)),
        "pgd_acc": robust_accuracy(model, x, y, eps, steps=pgd_steps, alpha=2.5 * eps / pgd_steps,
                                   restarts=1, seed=seed),
    }
    if apgd_steps is not None:
        g = torch.Generator().manual_seed(seed)
        record["apgd_acc"] = accuracy_under_attack(
            model, x, y, lambda net, xb, yb: apgd(net, xb, yb, eps, apgd_steps, generator=g))
    return record


def adversarial_training(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         recipe: AdvRecipe = RECIPES["fast"], x_val: torch.Tensor | None = None,
                         y_val: torch.Tensor | None = None, eval_eps: float | None = None,
                         eval_steps: int = 10, seed: int = 0, progress: bool = True,
                         keep_best: bool = False,
                         on_epoch_end: Callable[[dict], None] | None = None,
                         eval_apgd_steps: int | None = None) -> list[dict]:
    """Train ``model`` on (x, y) by ``recipe``; return its history, one record per epoch.
    The model is updated in place and returned to the mode it came in; the inner attack's
    random starts draw from torch's global generator (see :func:`adversarial_loss_fn`).

    The loop is :func:`coursekit.train.train_classifier` with :func:`adversarial_loss_fn` as
    its loss. Each record holds ``epoch``, ``loss``, ``train_acc`` (on the training batches'
    x_adv), ``eps`` (ε at the epoch's end) and ``seconds`` (training time so far, evaluation
    excluded); with a held-out batch (x_val, y_val) also ``clean_acc``, ``fgsm_acc`` and
    ``pgd_acc`` at ``eval_eps`` (default: the recipe's ε), see :func:`held_out_accuracies`,
    and ``apgd_acc`` with ``eval_apgd_steps``.
    ``on_epoch_end(record)`` is called after that (the DDP entry point prints from it).

    ``keep_best`` (needs the held-out batch) is early stopping: at the end the model gets back
    the weights of the epoch with the highest held-out PGD accuracy (the last such epoch on a
    tie), and each record's ``kept`` says which one that was. Wong et al. 2020 (§5.3) stop
    early this way when catastrophic overfitting strikes; Rice et al. 2020 against robust
    overfitting.
    """
    if not isinstance(recipe, AdvRecipe):
        raise TypeError(f"recipe must be an AdvRecipe (or one of RECIPES), got {type(recipe).__name__}")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val (a held-out batch), or neither")
    if keep_best and x_val is None:
        raise ValueError("keep_best needs a held-out batch (x_val, y_val) to pick the best epoch")
    eval_eps = recipe.eps if eval_eps is None else eval_eps
    best = {"pgd_acc": -1.0, "epoch": 0, "state": None}
    start, eval_seconds = time.perf_counter(), 0.0
    steps_per_epoch = -(-len(x) // recipe.batch_size)

    def after_epoch(record):
        nonlocal eval_seconds
        tick = time.perf_counter()
        record["eps"] = recipe.eps_at(min(1.0, record["epoch"] / recipe.epochs))
        record["seconds"] = tick - start - eval_seconds
        record["steps"] = record["epoch"] * steps_per_epoch
        if x_val is not None:
            # the local module, not a DDP wrapper: no collective calls from the rank that evaluates
            record.update(held_out_accuracies(_unwrap(model), x_val, y_val, eval_eps, eval_steps, seed,
                                              eval_apgd_steps))
            if progress:
                tqdm.write(f"  held out, ε = {eval_eps}: clean {record['clean_acc']:.2%}, "
                           f"FGSM {record['fgsm_acc']:.2%}, PGD-{eval_steps} {record['pgd_acc']:.2%}"
                           + (f", APGD-CE-{eval_apgd_steps} {record['apgd_acc']:.2%}"
                              if eval_apgd_steps else ""))
            if keep_best and record["pgd_acc"] >= best["pgd_acc"]:
                state = {k: v.detach().clone() for k, v in _unwrap(model).state_dict().items()}
                best.update(pgd_acc=record["pgd_acc"], epoch=record["epoch"], state=state)
        eval_seconds += time.perf_counter() - tick
        if on_epoch_end is not None:
            on_epoch_end(record)

    history = train_classifier(model, x, y, epochs=recipe.epochs, lr=recipe.lr,
                               batch_size=recipe.batch_size, seed=seed, progress=progress,
                               on_epoch_end=after_epoch, loss_fn=adversarial_loss_fn(recipe))
    if keep_best:
        _unwrap(model).load_state_dict(best["state"])
        for record in history:
            record["kept"] = record["epoch"] == best["epoch"]
    return history
