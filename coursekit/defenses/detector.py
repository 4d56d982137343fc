"""The safety net: a detector that flags adversarial inputs, and the attack that fools it too.

Metzen, Genewein, Fischer & Bischoff 2017 ("On Detecting Adversarial Perturbations"): leave
the classifier f as it is and train a small binary network D on its *activations* at one
layer, to tell clean inputs (label 0) from adversarial ones (label 1) crafted against f.
The system then rejects x when D says "adversarial", and classifies it otherwise.

Against the attack it was trained on, D catches most adversarial examples. Carlini & Wagner
2017 ("Adversarial Examples Are Not Easily Detected: Bypassing Ten Detection Methods")
attack classifier and detector *together*: they fold D into one network G with K + 1 outputs,

    G(x)_j = Z_f(x)_j  (j < K),        G(x)_K = max_j Z_f(x)_j + (D(x) − τ),

so arg max G is the extra class K ("rejected") exactly when the detector logit D(x) exceeds
the threshold τ (their eq. uses (Z_D + 1)·max Z_f; the sum here does the same without
assuming positive logits). A targeted attack on G to a wrong class t < K must then fool f
*and* slip past D: :func:`detector_aware_attack`. :class:`RejectOrClassify` is that G.
"""
from __future__ import annotations

import numbers
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..attacks import pgd
from ..attacks._common import (check_attack_args, check_class_labels, check_images, check_positive,
                              eval_mode, predict_logits)
from ..modes import frozen, train_mode
from ..validate import check_nonempty
from ..train import batches


class ActivationDetector(nn.Module):
    """D(x): a logit, > 0 for "adversarial", computed from the classifier's activations.

    ``features = classifier[:layer]``, the first ``layer`` modules of an ``nn.Sequential``
    classifier (``layer=0``: the input itself, a detector on images). The classifier's
    weights are shared and stay frozen during detector training. The head is Metzen et al.'s
    small convolutional detector scaled down to MNIST: two 3×3 convs (``width`` channels),
    global average pooling and one linear unit; on flat activations (N, D) it is an MLP with
    one hidden layer of ``width`` units. ``input_shape`` (C, H, W) of the images is used once,
    to find the activations' shape.
    """

    def __init__(self, classifier: nn.Sequential, layer: int, width: int = 32,
                 input_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        if not isinstance(classifier, nn.Sequential):
            raise ValueError(f"classifier must be an nn.Sequential, got {type(classifier).__name__}")
        if not (isinstance(layer, numbers.Integral) and 0 <= layer < len(classifier)):
            raise ValueError(f"layer must be an int in [0, {len(classifier) - 1}], got {layer!r}")
        self.features = nn.Sequential(*list(classifier)[:layer])  # shares the layers
        with torch.no_grad(), eval_mode(self.features):
            shape = self.features(torch.zeros(1, *input_shape)).shape
        if len(shape) == 4:
            self.head = nn.Sequential(
                nn.Conv2d(shape[1], width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1),
            )
        elif len(shape) == 2:
            self.head = nn.Sequential(nn.Linear(shape[1], width), nn.ReLU(), nn.Linear(width, 1))
        else:
            raise ValueError(f"layer {layer} gives activations of shape {tuple(shape)}; expected "
                             f"(N, C, H, W) or (N, D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)                       # (N,)


def train_detector(detector: ActivationDetector, x: torch.Tensor, x_adv: torch.Tensor,
                   epochs: int = 3, lr: float = 1e-3, batch_size: int = 128, seed: int = 0,
                   progress: bool = True) -> list[float]:
    """Fit the detector's head to tell ``x`` (label 0) from ``x_adv`` (label 1); BCE loss.

    The classifier's layers (``detector.features``) are not updated and stay in eval mode.
    Returns the mean loss per epoch.
    """
    check_images(x)
    check_nonempty(x)
    check_images(x_adv, "x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(x_adv.shape)}")
    check_positive("epochs", epochs, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    inputs = torch.cat([x, x_adv])
    labels = torch.cat([torch.zeros(len(x)), torch.ones(len(x_adv))]).to(x.device)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(detector.head.parameters(), lr=lr)
    history = []
    with frozen(detector.features), eval_mode(detector.features), train_mode(detector.head):
        for epoch in tqdm(range(epochs), desc="detector", disable=not progress, leave=False):
            total = 0.0
            for idx in batches(len(inputs), batch_size, shuffle=True, generator=g):
                loss = F.binary_cross_entropy_with_logits(detector(inputs[idx]), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            history.append(total / len(inputs))
    return history


class RejectOrClassify(nn.Module):
    """Classifier + detector as one network with K + 1 logits; class K means "rejected".

    G_j = Z_f,j for j < K and G_K = max_j Z_f,j + D(x) − ``threshold`` (Carlini & Wagner
    2017), so arg max G = K exactly when D(x) > threshold.
    """

    def __init__(self, classifier: nn.Module, detector: nn.Module, threshold: float = 0.0):
        super().__init__()
        self.classifier, self.detector, self.threshold = classifier, detector, float(threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.classifier(x)                                              # (N, K)
        reject = z.max(1).values + self.detector(x) - self.threshold        # (N,)
        return torch.cat([z, reject[:, None]], 1)                           # (N, K + 1)

    @property
    def reject_class(self) -> int:
        """The index of the "rejected" output (K)."""
        last = [m for m in self.classifier.modules() if isinstance(m, nn.Linear)][-1]
        return last.out_features


def detection_report(system: RejectOrClassify, x: torch.Tensor, y: torch.Tensor) -> dict:
    """What the system does with ``x``: shares rejected, accepted and right, accepted and wrong.

    On adversarial inputs "accepted_wrong" is the attack's success rate against the whole
    system; on clean inputs "rejected" is the false-alarm rate.
    """
    check_attack_args(x, y)
    check_nonempty(x)
    with eval_mode(system):
        logits = predict_logits(system, x)
    pred = logits.argmax(1)
    check_class_labels(y, system.reject_class)
    rejected = pred == system.reject_class
    return {"rejected": rejected.float().mean().item(),
            "accepted_right": ((pred == y) & ~rejected).float().mean().item(),
            "accepted_wrong": ((pred != y) & ~rejected).float().mean().item()}


def runner_up(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per example, the most likely class other than y: the target easiest to reach."""
    with torch.no_grad(), eval_mode(model):
        z = model(x)
    return z.scatter(1, y[:, None].long(), float("-inf")).argmax(1)


def detector_aware_attack(system: RejectOrClassify, x: torch.Tensor, y: torch.Tensor,
                          eps: float, alpha: float, steps: int, restarts: int = 1,
                          target: torch.Tensor | None = None,
                          generator: torch.Generator | None = None,
                          attack: Callable | None = None) -> torch.Tensor:
    """Fool classifier and detector at once (Carlini & Wagner 2017): a targeted L∞ PGD
    on the K + 1 logits of ``system`` to ``target`` (default: the classifier's runner-up
    class), a wrong class that is not "rejected"."""
    check_attack_args(x, y, eps, system)
    check_class_labels(y, system.reject_class)
    if target is None:
        target = runner_up(system.classifier, x, y)
    attack = attack or pgd
    return attack(system, x, target, eps=eps, alpha=alpha, steps=steps, restarts=restarts,
                  targeted=True, generator=generator)


def fit_detector(classifier: nn.Sequential, x: torch.Tensor, y: torch.Tensor, eps: float,
                 layer: int, steps: int = 10, epochs: int = 5, threshold: float = 0.0,
                 seed: int = 0, progress: bool = True) -> RejectOrClassify:
    """Metzen et al.'s recipe in one call: PGD examples (L∞, ``eps``, ``steps`` steps)
    against ``classifier`` on (x, y), a detector on its activations at ``layer`` trained to
    tell them from x, and the combined system (``system.detector`` is the detector)."""
    from .adaptive import pgd_attack

    check_attack_args(x, y, eps, classifier)
    g = torch.Generator().manual_seed(seed)
    x_adv = pgd_attack(classifier, x, y, eps, steps=steps, generator=g)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        detector = ActivationDetector(classifier, layer, input_shape=tuple(x.shape[1:]))
    train_detector(detector, x, x_adv, epochs=epochs, seed=seed, progress=progress)
    return RejectOrClassify(classifier, detector, threshold)
