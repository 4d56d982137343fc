"""Transfer attacks: forge on models you have, use the result on a model you cannot see.

When the target cannot even be queried, the attacker crafts adversarial examples on a
surrogate of their own and hopes they *transfer* (Szegedy et al. 2014; Papernot et al. 2016).
:func:`transfer_rates` measures how often they do between every pair of models.

Two ways to forge examples that transfer better:

* **momentum** (Dong et al. 2018, "Boosting Adversarial Attacks with Momentum", Algorithm 1,
  MI-FGSM): iterate FGSM steps of α = ε/T along the sign of an accumulated gradient
  g_{t+1} = μ·g_t + ∇ₓJ(x_t)/‖∇ₓJ(x_t)‖₁. Plain iterative attacks fit the surrogate's
  decision boundary closely and "overfit" to it; the momentum term keeps the direction stable
  across steps, which is what carries over to other models.
* **ensembles of surrogates** (Liu, Chen, Liu & Song 2017, "Delving into Transferable
  Adversarial Examples", Table 4): attack several surrogates at once; a direction that
  fools all of them is more likely to fool one more. :func:`leave_one_out_rates` attacks the
  average of every model but the target, as Liu et al.'s table does.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ._common import (as_images_shape, check_attack_args, check_positive, eval_mode,
                      input_gradient, predict_labels)
from .gradient import _project


@torch.enable_grad()  # works inside a caller's torch.no_grad() block too
def mi_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 10,
            decay: float = 1.0, targeted: bool = False) -> torch.Tensor:
    """Momentum iterative FGSM (Dong et al. 2018, Algorithm 1): ``steps`` signed steps of
    α = ε/steps along g_{t+1} = decay·g_t + ∇ₓJ(x_t)/‖∇ₓJ(x_t)‖₁, projected onto the L∞ ball
    of radius ``eps`` and [0, 1]. ``decay`` = μ (the paper's 1.0); μ = 0 is plain iterative
    FGSM with step ε/steps."""
    check_attack_args(x, y, eps, model)
    check_positive("steps", steps, integer=True)
    check_positive("decay", decay, allow_zero=True)
    x, y = x.detach(), y.long()
    alpha = eps / steps
    x_adv, g = x.clone(), torch.zeros_like(x)
    with eval_mode(model):
        for _ in range(steps):
            grad, _ = input_gradient(model, x_adv, y, targeted)
            l1 = as_images_shape(grad.flatten(1).abs().sum(1).clamp_min(1e-12), grad)
            g = decay * g + grad / l1
            x_adv = _project(x_adv + alpha * g.sign(), x, eps, "linf")
    return x_adv


Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def _correct(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor) -> dict:
    out = {}
    for name, model in models.items():
        with eval_mode(model):
            out[name] = predict_labels(model, x) == y
    return out


def _fooled(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with eval_mode(model):
        return predict_labels(model, x_adv) != y


def transfer_rates(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor,
                   attack: Attack) -> tuple[list[str], torch.Tensor]:
    """How often adversarial examples crafted on one model fool another.

    ``rates[i, j]`` is the error rate of model j on ``attack(model_i, x, y)``, counted over the
    examples that both model i and model j classify correctly to begin with; the diagonal is
    the white-box success rate. Returns the model names (row and column order) and ``rates``.
    """
    check_attack_args(x, y)
    names = list(models)
    correct = _correct(models, x, y)
    rates = torch.zeros(len(names), len(names))
    for i, source in enumerate(names):
        x_adv = attack(models[source], x, y)
        for j, target in enumerate(names):
            both = correct[source] & correct[target]
            fooled = _fooled(models[target], x_adv, y)
            rates[i, j] = fooled[both].float().mean() if both.any() else float("nan")
    return names, rates


def leave_one_out_rates(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor,
                        attack: Attack, combine: str = "logits") -> dict[str, float]:
    """For each model j, the error rate of j on ``attack(ensemble of all the others, x, y)``,
    over the examples that every model classifies correctly (Liu et al. 2017, Table 4).

    The ensemble averages the members' logits (``combine="logits"``) or probabilities
    (``"probs"``), as :class:`coursekit.defenses.Ensemble`."""
    from ..defenses.ensemble import Ensemble   # lazy: the defenses build on the attacks
    check_attack_args(x, y)
    if len(models) < 2:
        raise ValueError(f"models must hold at least 2 models, got {len(models)}")
    correct = _correct(models, x, y)
    every = torch.stack(list(correct.values())).all(0)
    rates = {}
    for target, model in models.items():
        others = Ensemble([m for name, m in models.items() if name != target], combine=combine)
        x_adv = attack(others, x, y)
        fooled = _fooled(model, x_adv, y)
        rates[target] = fooled[every].float().mean().item() if every.any() else float("nan")
    return rates
