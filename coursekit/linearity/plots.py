"""The figures of notebook 03: every one titled and labelled; they only draw data computed by
the experiments of ``experiments.py`` (resolution, logits along FGSM, vulnerability table,
decision planes). Course-wide plotting helpers live in ``coursekit.viz``.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch

from .experiments import ResolutionResult


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
