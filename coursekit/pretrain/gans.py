"""The shipped GANs of notebook 04, trained by :func:`coursekit.gan.train_gan` on the 60,000
MNIST training digits, and scored by FID, precision and recall against the test digits.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import pretrained_dir
from ..data import mnist
from ..models import build
from ..validate import check_positive
from .preamble import Run


@dataclass(frozen=True)
class GANRecipe:
    """A shipped GAN: G's architecture and arguments, D's arguments, the :func:`train_gan`
    arguments, and the decay of the weight average (EMA) of G that is shipped (None: G itself)."""

    arch: str
    g_kwargs: dict
    d_kwargs: dict
    train: dict
    ema_decay: float | None = 0.999
    psi_grid: tuple = ()  # sampling temperatures ψ to choose from after training (a class-code G)


# "mnist-dcgan" is the shipped generator: notebook 04's DCGAN one stage deeper (depth 3: G with
# 256/128/64 channels at 7/14/28 pixels and a 3×3 output convolution, D with 64/128/256), whose
# code carries the digit (ClassCodeDCGANGenerator) and whose D is told it (projection), the hinge
# loss, forward passes in bfloat16, the average of G's weights shipped, and the noise's scale ψ
# chosen after training. "mnist-dcgan-unlabelled" is the same D and a G of the same design at
# half the width (ngf = 32), trained without labels (8,000 float32 steps, the shipped generator
# until the labelled recipe replaced it), kept for the comparison. "mnist-cdcgan" is the
# class-conditional pair at ngf = ndf = 64 (depth 2) with the hinge loss, the average of G's
# weights shipped.
GAN_RECIPES = {
    "mnist-dcgan": GANRecipe("class-code-dcgan-generator", {"noise_dim": 64, "ngf": 64, "depth": 3},
                             {"ndf": 64, "depth": 3},
                             {"loss": "hinge", "steps": 10000, "batch_size": 64, "reuse_fake": True,
                              "autocast": torch.bfloat16},
                             psi_grid=(1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3)),
    "mnist-dcgan-unlabelled": GANRecipe("dcgan-generator", {"latent_dim": 64, "ngf": 32, "depth": 3},
                                        {"ndf": 64, "depth": 3},
                                        {"loss": "hinge", "steps": 8000, "batch_size": 64, "reuse_fake": True}),
    "mnist-cdcgan": GANRecipe("cdcgan-generator", {"latent_dim": 64, "ngf": 64}, {"ndf": 64},
                              {"loss": "hinge", "steps": 5000, "batch_size": 64, "reuse_fake": True}),
}


def pretrain_gan(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train GAN recipe ``name`` (:data:`GAN_RECIPES`) on the 60,000 MNIST training digits.

    Records in the manifest: the FID curve over training (MNIST features, 2,000 samples of the
    shipped G against the first 2,000 test digits, 16 points), and, on 10,000 samples against
    the 10,000 test digits, FID, precision and recall (k = 3) and the share of each digit as
    "mnist-cnn" reads it; for a class-conditional G also the share of samples read as the
    class they were drawn for. Before those figures are measured, a recipe with a ``psi_grid``
    sets G's noise scale ψ by :func:`pick_psi` from each ψ's (precision, recall) against 10,000
    training digits, each ψ's pair recorded. Training time is the wall time and the process's CPU
    time, on the threads torch uses (all cores unless told otherwise; the shipped mnist-dcgan used
    this machine's two). The fixed-noise grids and the per-step losses go to ``<name>-history.pt``
    (checksummed in the manifest too). An interrupted run resumes from
    ``<name>-training.pt`` in the output folder, deleted once the model is saved.
    """
    from ..gan import ConditionalDCGANDiscriminator, DCGANDiscriminator, train_gan
    from ..gan.trainer import standing_statistics
    from ..metrics import extract_features, frechet_distance, precision_recall

    recipe = GAN_RECIPES[name]
    run = Run(name, out, quick, seed)
    train_kwargs = run.shrink(dict(recipe.train), "steps")
    steps = train_kwargs["steps"]
    n_eval, n_final = run.size((2_000, 10_000), (200, 500))
    x, y = mnist("train").tensors()
    x_test, _ = mnist("test").tensors()
    G = build(recipe.arch, **recipe.g_kwargs)
    conditional = getattr(G, "num_classes", None) is not None  # trained with the labels
    D = (ConditionalDCGANDiscriminator if conditional else DCGANDiscriminator)(**recipe.d_kwargs)
    G_ema = copy.deepcopy(G) if recipe.ema_decay is not None else None
    shipped = G_ema if G_ema is not None else G
    real_eval = extract_features(x_test[:n_eval], progress=False).features

    def sample_real(n, g):
        idx = torch.randint(len(x), (n,), generator=g)
        return (x[idx], y[idx]) if conditional else x[idx]

    def eval_fn(_):
        fake = extract_features(shipped.sample(n_eval, seed=seed), progress=False).features
        return {"fid": float(frechet_distance(real_eval, fake))}

    folder = Path(out or pretrained_dir())
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / f"{name}-training.pt"
    with run.timed():
        history = train_gan(G, D, sample_real, seed=seed, n_fixed=40, sample_every=max(1, steps // 8),
                            eval_fn=eval_fn, eval_every=max(1, steps // 16), checkpoint=checkpoint,
                            checkpoint_every=max(1, steps // 20), G_ema=G_ema,
                            ema_decay=recipe.ema_decay or 0.0, **train_kwargs)
        if G_ema is not None:
            standing_statistics(G_ema, seed=seed)

    g_kwargs, psi_scores = dict(recipe.g_kwargs), None
    if recipe.psi_grid:
        # ψ, judged against training digits (the test digits stay for the figures below) on
        # samples of other seeds
        reference = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n_final]]
        psi_scores = choose_psi(shipped, reference, recipe.psi_grid, n_final, seed=seed + 100)
        g_kwargs["psi"] = shipped.psi = pick_psi(psi_scores, n_final)
    samples = torch.cat([shipped.sample(1000, seed=seed + i) for i in range(max(1, n_final // 1000))])[:n_final]
    real, fake = extract_features(x_test[:n_final], progress=False), extract_features(samples, progress=False)
    digits = fake.probs.argmax(1)
    shares = (torch.bincount(digits, minlength=10).float() / len(digits)).tolist()
    pr = precision_recall(real.features, fake.features, k=3)
    metrics = {"fid_mnist_features": round(frechet_distance(real.features, fake.features), 3),
               "precision": round(pr.precision, 4), "recall": round(pr.recall, 4),
               "digit_shares": [round(v, 4) for v in shares],
               "fid_curve": [[e["step"], round(e["fid"], 3)] for e in history["evals"]],
               "steps": steps, "torch": torch.__version__}
    if psi_scores is not None:
        metrics["psi"] = g_kwargs["psi"]
        metrics["psi_precision_recall_on_training_digits"] = {str(k): v for k, v in psi_scores.items()}
    if conditional:  # the share of samples asked for class c (0, 1, 2, ... in turn) read as c
        asked = torch.arange(n_final) % G.num_classes
        drawn = torch.cat([shipped.sample(len(y_b), seed=seed + i, labels=y_b) for i, y_b in enumerate(asked.split(1000))])
        read = extract_features(drawn, progress=False).probs.argmax(1)
        metrics["class_agreement"] = round((read == asked).float().mean().item(), 4)
    grids = {step: (imgs * 255).round().to(torch.uint8) for step, imgs in history["samples"]}
    metrics = run.finish(
        shipped, recipe.arch, g_kwargs, metrics,
        f"FID {metrics['fid_mnist_features']:.2f} (MNIST features), precision {pr.precision:.3f}, "
        f"recall {pr.recall:.3f}, digit shares {metrics['digit_shares']}",
        extra={"samples": grids, "fid_curve": metrics["fid_curve"],
               "d_loss": torch.tensor(history["d_loss"]), "g_loss": torch.tensor(history["g_loss"])})
    checkpoint.unlink()
    return metrics


def pick_psi(scores: dict, n: int) -> float:
    """The noise scale ψ to ship from ``scores`` = {ψ: [precision, recall]} measured on n samples:
    the ψ closest to 1 (the noise G was trained with) whose worse-of-the-two m = min(precision,
    recall) is within one standard error of the best m. That is the one-standard-error rule of
    model selection (Hastie, Tibshirani & Friedman, *Elements of Statistical Learning*, §7.10):
    among choices the measurement cannot tell apart, take the least departure. The standard
    error is the binomial one of a share of n, √(m(1 − m)/n)."""
    if not scores:
        raise ValueError("scores must hold at least one ψ, got an empty dict")
    check_positive("n", n, integer=True)
    best = max(min(pr) for pr in scores.values())
    se = (best * (1 - best) / n) ** 0.5
    return min((psi for psi, pr in scores.items() if min(pr) >= best - se), key=lambda psi: abs(psi - 1))


def choose_psi(G, reference: torch.Tensor, grid, n: int, seed: int) -> dict:
    """{ψ: [precision, recall]} (k = 3, MNIST features) of n samples of G at each noise scale ψ
    in ``grid`` against the images ``reference``; G.psi is restored after."""
    from ..metrics import extract_features, precision_recall

    real = extract_features(reference, progress=False).features
    scores, psi_before = {}, G.psi
    try:
        for psi in grid:
            G.psi = psi
            fake = torch.cat([G.sample(1000, seed=seed + i) for i in range(max(1, n // 1000))])[:n]
            pr = precision_recall(real, extract_features(fake, progress=False).features, k=3)
            scores[psi] = [round(pr.precision, 4), round(pr.recall, 4)]
    finally:
        G.psi = psi_before
    return scores
