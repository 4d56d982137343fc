"""Training a GAN: Algorithm 1 of Goodfellow et al. 2014, with a pluggable loss.

    for each training step:
        for k steps:  sample real x and noise z; update D on J(D)          (d_step)
        sample noise z; update G on J(G), D frozen                         (g_step)

The two updates are small functions that return their numbers. :func:`train_gan` adds the
book-keeping: separate learning rates for D and G, one-sided label smoothing, an exponential
moving average of G's weights, a fixed-noise sample grid, loss and metric history, a tqdm bar,
and checkpoints that resume exactly (every random draw comes from one seeded
``torch.Generator`` that is saved with the weights).
"""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..modes import eval_mode, frozen, train_mode
from ..validate import check_positive
from .losses import GANLoss, clip_weights, get_loss, minimax_d_loss

SampleReal = Callable[[int, torch.Generator], torch.Tensor]


def _conditioned(module: nn.Module, y: torch.Tensor | None):
    """``module`` itself, or x ↦ module(x, y) for a class-conditional network."""
    return module if y is None else (lambda x: module(x, y))


def d_step(G: nn.Module, D: nn.Module, x_real: torch.Tensor, z: torch.Tensor, loss: GANLoss,
           opt_d: torch.optim.Optimizer, real_label: float = 1.0,
           generator: torch.Generator | None = None, x_fake: torch.Tensor | None = None,
           y: torch.Tensor | None = None, autocast: torch.dtype | None = None) -> dict:
    """One update of D on a real batch and G(z) (detached: G is not updated here). ``x_fake``,
    when given, is G(z) already computed (it is detached here). With labels ``y`` (a
    class-conditional GAN) the fakes are G(z, y), drawn for the real batch's classes, and D
    scores D(x, y). Real and fake images go through D as separate batches, so that batch norm
    in D never mixes their statistics. ``autocast`` (a dtype such as ``torch.bfloat16``) runs the
    forward passes in it (:func:`mixed_precision`). Its job is an optimiser step on D: D's
    parameters and ``.grad`` change, G's do not."""
    G_y, D_y = _conditioned(G, y), _conditioned(D, y)
    with mixed_precision(autocast, x_real.device):
        if x_fake is None:
            with torch.no_grad():
                x_fake = G_y(z)
        x_fake = x_fake.detach()
        d_real, d_fake = D_y(x_real).float(), D_y(x_fake).float()
    if real_label != 1.0:
        if loss.d_loss is not minimax_d_loss:
            raise ValueError(f"real_label (one-sided label smoothing) needs the minimax D loss; "
                             f"{loss.name!r} has its own targets: leave real_label at 1.0, got {real_label!r}")
        l_d = minimax_d_loss(d_real, d_fake, real_label=real_label)
    else:
        l_d = loss.d_loss(d_real, d_fake)
    if loss.penalty is not None:
        l_d = l_d + loss.penalty_weight * loss.penalty(D_y, x_real, x_fake, generator=generator)
    opt_d.zero_grad(set_to_none=True)
    l_d.backward()
    opt_d.step()
    if loss.clip is not None:
        clip_weights(D, loss.clip)
    return {"d_loss": l_d.item(), "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item()}


def step_through_frozen(opt: torch.optim.Optimizer, frozen_nets, loss_fn: Callable[[], tuple]) -> tuple:
    """One optimiser step on the first value ``loss_fn()`` returns, with ``frozen_nets`` frozen:
    the loss flows through them (G's update through D) without filling their ``.grad``, and
    every ``requires_grad`` flag is back as it was afterwards. ``loss_fn`` returns (total, *rest);
    the whole tuple is returned. Every G step in the course is this, with its own loss:
    :func:`g_step` (Algorithm 1), pix2pix's, CycleGAN's and SRGAN's."""
    with frozen(*frozen_nets):
        out = loss_fn()
        opt.zero_grad(set_to_none=True)
        out[0].backward()
        opt.step()
    return out


def g_step(G: nn.Module, D: nn.Module, z: torch.Tensor | None, loss: GANLoss,
           opt_g: torch.optim.Optimizer, x_fake: torch.Tensor | None = None,
           y: torch.Tensor | None = None, autocast: torch.dtype | None = None) -> dict:
    """One update of G through a frozen D; also reports ‖∇_θG J(G)‖ (how hard G is pushed).
    ``x_fake``, when given, is G(z) already computed with its graph (``z`` is then unused).
    With labels ``y`` G draws G(z, y) and D scores D(x, y). ``autocast`` as in :func:`d_step`.
    Its job is an optimiser step on G:
    G's parameters and ``.grad`` change; D's do not, and D's ``requires_grad`` flags come back
    as they were (:func:`coursekit.modes.frozen`)."""
    G_y, D_y = _conditioned(G, y), _conditioned(D, y)

    def g_loss():
        with mixed_precision(autocast, next(G.parameters()).device):
            return (loss.g_loss(D_y(G_y(z) if x_fake is None else x_fake).float()),)

    (l_g,) = step_through_frozen(opt_g, [D], g_loss)
    grad_norm = torch.linalg.vector_norm(torch.stack(       # the step leaves .grad as it was
        [torch.linalg.vector_norm(p.grad) for p in G.parameters() if p.grad is not None]))
    return {"g_loss": l_g.item(), "g_grad_norm": grad_norm.item()}


def mixed_precision(dtype: torch.dtype | None, device: torch.device):
    """``torch.autocast`` on ``device``'s type in ``dtype`` (None: a context that changes
    nothing). Forward passes run in the lower precision, weights and their gradients stay float32;
    the backward pass and the optimiser step belong outside (the autocast docs' advice)."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


@torch.no_grad()
def ema_update(G_ema: nn.Module, G: nn.Module, decay: float) -> None:
    """θ_ema ← decay·θ_ema + (1 − decay)·θ for every parameter of G (an exponential moving
    average of G's weights over the last ~1/(1 − decay) steps: Yazıcı et al. 2019, "The Unusual
    Effectiveness of Averaging in GAN Training"); buffers are copied as they are."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


@torch.no_grad()
def standing_statistics(G: nn.Module, n_batches: int = 100, batch_size: int = 64, seed: int = 0) -> None:
    """Re-estimate the running statistics of G's batch norms from G's own outputs: reset them,
    run ``n_batches`` batches of fresh codes in train mode with a plain average (momentum
    None), and put G back in its mode. An averaged G has weights that the live G's statistics
    were never measured on; this measures them (BigGAN's "standing statistics", Brock et al.
    2019). Only the running statistics change."""
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    g = torch.Generator().manual_seed(seed)
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over all batches
        with train_mode(G):
            for _ in range(n_batches):
                z = G.sample_z(batch_size, g)
                if getattr(G, "num_classes", None):
                    G(z, torch.randint(G.num_classes, (batch_size,), generator=g).to(z.device))
                else:
                    G(z)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


def make_optimizer(params, name: str, lr: float, betas=(0.5, 0.999)) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {name!r}")


def _describe(module: nn.Module) -> dict:
    return {"class": type(module).__name__,
            "shapes": {k: list(v.shape) for k, v in module.state_dict().items()}}


def _load_checkpoint(path: Path, G, D, opt_g, opt_d, g, G_ema=None) -> tuple[int, dict]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    for key, module in (("G", G), ("D", D)):
        if state["arch"][key] != _describe(module):
            raise ValueError(
                f"checkpoint {path} was saved from a different {key} "
                f"({state['arch'][key]['class']} with other layer shapes than this "
                f"{type(module).__name__}); delete it or use the architecture it was made with")
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    opt_g.load_state_dict(state["opt_g"])
    opt_d.load_state_dict(state["opt_d"])
    g.set_state(state["rng"])
    if G_ema is not None:
        if state.get("G_ema") is None:
            raise ValueError(f"checkpoint {path} holds no averaged G (G_ema); delete it or train "
                             "without G_ema, as it was made")
        G_ema.load_state_dict(state["G_ema"])
    return state["step"], state["history"]


def train_gan(
    G: nn.Module,
    D: nn.Module,
    sample_real: SampleReal,
    loss: str | GANLoss = "non-saturating",
    steps: int = 1000,
    batch_size: int = 64,
    k: int | None = None,
    lr_d: float | None = None,
    lr_g: float | None = None,
    betas: tuple[float, float] | None = None,
    optimizer: str | None = None,
    real_label: float = 1.0,
    seed: int = 0,
    n_fixed: int = 64,
    sample_every: int | None = None,
    eval_fn: Callable[[nn.Module], dict] | None = None,
    eval_every: int | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 100,
    callback: Callable[[int, dict], None] | None = None,
    progress: bool = True,
    reuse_fake: bool = False,
    G_ema: nn.Module | None = None,
    ema_decay: float = 0.999,
    autocast: torch.dtype | None = None,
) -> dict:
    """Train G against D for ``steps`` generator updates (each after ``k`` D updates).

    ``sample_real(n, generator)`` returns a batch of real data, or a pair (images, labels) for a
    class-conditional G(z, y) and D(x, y): the fakes are then drawn for the real batch's
    labels, and the fixed-noise grid shows the classes 0, 1, 2, ... in turn. ``loss`` is a name from
    :data:`coursekit.gan.losses.LOSSES` or a :class:`GANLoss`; ``k``, ``lr_d``, ``lr_g``,
    ``betas`` and ``optimizer`` default to that loss's published preset. ``real_label`` < 1
    is one-sided label smoothing (minimax-family D loss). Every ``sample_every`` steps G's
    output on a fixed noise batch is kept; every ``eval_every`` steps ``eval_fn(G)`` is
    recorded. With ``checkpoint`` the run is saved every ``checkpoint_every`` steps and at
    the end, and resumes from the file if it exists. ``callback(step, history)`` runs after
    each step (live plots, early stops). ``reuse_fake=True`` updates G on the last D step's
    fakes instead of fresh noise, as the pytorch/examples DCGAN script does: one forward pass
    of G per step instead of two, but G and D then see the same noise. ``G_ema``, a copy of G
    made before training, follows G as the moving average of its weights (:func:`ema_update`
    with ``ema_decay``, after every G step); it is saved in the checkpoint too. ``autocast``
    (for example ``torch.bfloat16``) runs every forward pass of training in that precision
    (:func:`mixed_precision`): faster steps on a CPU or GPU with bfloat16 instructions.

    Returns the history: per-step lists ``d_loss``, ``g_loss``, ``g_grad_norm``, ``d_real``,
    ``d_fake``; ``evals`` (list of dicts with ``step``); ``samples`` (list of (step, images)).
    G and D train in train mode and come back in the modes they came in (each submodule's flag).
    """
    loss = get_loss(loss) if isinstance(loss, str) else loss
    preset = loss.preset
    k = k if k is not None else preset.get("k", 1)
    lr_d = lr_d if lr_d is not None else preset.get("lr_d", 2e-4)
    lr_g = lr_g if lr_g is not None else preset.get("lr_g", 2e-4)
    betas = betas if betas is not None else preset.get("betas", (0.5, 0.999))
    optimizer = optimizer or preset.get("optimizer", "adam")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("k", k)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    check_positive("lr_d", lr_d)
    check_positive("lr_g", lr_g)
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label must be in (0, 1], got {real_label}")
    if not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")

    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    fixed_z = G.sample_z(n_fixed, torch.Generator().manual_seed(seed + 1))
    num_classes = getattr(G, "num_classes", None)
    fixed_y = torch.arange(n_fixed, device=device) % num_classes if num_classes else None
    opt_d = make_optimizer(D.parameters(), optimizer, lr_d, betas)
    opt_g = make_optimizer(G.parameters(), optimizer, lr_g, betas)
    history = {"d_loss": [], "g_loss": [], "g_grad_norm": [], "d_real": [], "d_fake": [],
               "evals": [], "samples": []}
    start = 0
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if checkpoint is not None and checkpoint.is_file():
        start, history = _load_checkpoint(checkpoint, G, D, opt_g, opt_d, g, G_ema)

    def save(step):
        torch.save({"G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(), "rng": g.get_state(), "step": step,
                    "G_ema": G_ema.state_dict() if G_ema is not None else None,
                    "history": history, "arch": {"G": _describe(G), "D": _describe(D)}},
                   checkpoint)

    with train_mode(G, D):   # and back to the modes they came in
        bar = tqdm(range(start, steps), initial=start, total=steps, desc=f"GAN ({loss.name})",
                   disable=not progress)
        for step in bar:
            for i in range(k):
                x_real, y = _real_batch(sample_real(batch_size, g), batch_size, device)
                z = G.sample_z(batch_size, g)
                x_fake = None
                if reuse_fake and i == k - 1:  # graph kept for g_step
                    with mixed_precision(autocast, device):
                        x_fake = _conditioned(G, y)(z)
                d_stats = d_step(G, D, x_real, z, loss, opt_d, real_label, generator=g, x_fake=x_fake, y=y,
                                 autocast=autocast)
            if reuse_fake:
                g_stats = g_step(G, D, None, loss, opt_g, x_fake=x_fake, y=y, autocast=autocast)
            else:
                g_stats = g_step(G, D, G.sample_z(batch_size, g), loss, opt_g, y=y, autocast=autocast)
            if G_ema is not None:
                ema_update(G_ema, G, ema_decay)
            for key, value in {**d_stats, **g_stats}.items():
                history[key].append(value)
            done = step + 1
            if sample_every and (done % sample_every == 0 or done == steps):
                history["samples"].append((done, _grid(G, fixed_z, fixed_y)))
            if eval_fn is not None and eval_every and (done % eval_every == 0 or done == steps):
                history["evals"].append({"step": done, **eval_fn(G)})
                G.train()
            bar.set_postfix(d=f"{d_stats['d_loss']:.3f}", g=f"{g_stats['g_loss']:.3f}")
            if checkpoint is not None and (done % checkpoint_every == 0 or done == steps):
                save(done)
            if callback is not None:
                callback(done, history)
    return history


def _real_batch(batch, n: int, device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(images, labels or None) from what ``sample_real(n, generator)`` returned, on ``device``."""
    x, y = batch if isinstance(batch, (tuple, list)) else (batch, None)
    if len(x) != n or (y is not None and len(y) != n):
        raise ValueError(f"sample_real(n, generator) must return n = {n} rows, got {len(x)}"
                         + (f" images and {len(y)} labels" if y is not None else ""))
    return x.to(device), (y.to(device) if y is not None else None)


@torch.no_grad()
def _grid(G: nn.Module, fixed_z: torch.Tensor, fixed_y: torch.Tensor | None = None) -> torch.Tensor:
    """G's output on the fixed noise, in eval mode, on the CPU; G's modes restored after."""
    with eval_mode(G):
        return _conditioned(G, fixed_y)(fixed_z).cpu()
