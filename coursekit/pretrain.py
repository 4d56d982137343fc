"""Rebuild the shipped pretrained files: ``python -m coursekit.pretrain NAME``.

Each recipe trains from a fixed seed, measures what the file is tested for (test accuracy
on the full MNIST test set), prints its time, and records file, sha256 and figures in
``data/pretrained/manifest.json``. ``--quick`` runs a tiny version (for tests), and
``--out DIR`` writes somewhere other than data/pretrained/.
"""
from __future__ import annotations

import argparse
import copy
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import pretrained_dir, seed_all
from .data import mnist
from .defenses.robust_model import ROBUST_RECIPES, pretrain_robust
from .defenses.certified_training import CERTIFIED_RECIPES, pretrain_certified
from .defenses.variants import VARIANTS, pretrain_variant
from .models import build
from .models.pretrained import recipe_data, register, register_extra
from .pretrain_translation import RECIPES as TRANSLATION_RECIPES
from .train import accuracy, predict, random_shift, train_classifier

# name -> (architecture, its arguments, training arguments)
RECIPES = {
    "mnist-cnn": ("mnist-cnn", {}, {"epochs": 6, "lr": 3e-3, "batch_size": 128, "augment": random_shift}),
    "mnist-mlp": ("mnist-mlp", {}, {"epochs": 8, "lr": 2e-3, "batch_size": 128}),
    "mnist-lenet": ("mnist-lenet", {}, {"epochs": 5, "lr": 3e-3, "batch_size": 128}),
}


@dataclass(frozen=True)
class GANRecipe:
    """A shipped GAN: G's architecture and arguments, D's arguments, the :func:`train_gan`
    arguments, and the decay of the weight average (EMA) of G that is shipped (None: G itself)."""

    arch: str
    g_kwargs: dict
    d_kwargs: dict
    train: dict
    ema_decay: float | None = 0.999


# "mnist-dcgan" is the shipped generator: the DCGAN of notebook 04 at ngf = ndf = 32 with the
# non-saturating cost, G itself shipped (no weight average). "mnist-cdcgan" is the class-conditional
# pair at ngf = ndf = 64 with the hinge loss, the average of G's weights shipped.
GAN_RECIPES = {
    "mnist-dcgan": GANRecipe("dcgan-generator", {"latent_dim": 64, "ngf": 32}, {"ndf": 32},
                             {"loss": "non-saturating", "steps": 10000, "batch_size": 64}, ema_decay=None),
    "mnist-cdcgan": GANRecipe("cdcgan-generator", {"latent_dim": 64, "ngf": 64}, {"ndf": 64},
                              {"loss": "hinge", "steps": 5000, "batch_size": 64, "reuse_fake": True}),
}


def pretrain_gan(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train GAN recipe ``name`` (:data:`GAN_RECIPES`) on the 60,000 MNIST training digits.

    Records in the manifest: the FID curve over training (MNIST features, 2,000 samples of the
    shipped G against the first 2,000 test digits, 16 points), and, on 10,000 samples against
    the 10,000 test digits, FID, precision and recall (k = 3) and the share of each digit as
    "mnist-cnn" reads it; for a class-conditional G also the share of samples read as the
    class they were drawn for. Training time is the process's CPU time (one thread) and the
    wall time. The fixed-noise grids and the per-step losses go to ``<name>-history.pt``
    (checksummed in the manifest too). An interrupted run resumes from
    ``<name>-training.pt`` in the output folder, deleted once the model is saved.
    """
    from .gan import ConditionalDCGANDiscriminator, DCGANDiscriminator, train_gan
    from .gan.trainer import standing_statistics
    from .metrics import extract_features, frechet_distance, precision_recall
    from .models import load_pretrained

    recipe = GAN_RECIPES[name]
    train_kwargs = dict(recipe.train)
    if quick:
        train_kwargs["steps"] = 4
    steps = train_kwargs["steps"]
    conditional = recipe.arch == "cdcgan-generator"
    n_eval, n_final = (200, 500) if quick else (2_000, 10_000)
    seed_all(seed)
    x, y = mnist("train").tensors()
    x_test, _ = mnist("test").tensors()
    G = build(recipe.arch, **recipe.g_kwargs)
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
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    history = train_gan(G, D, sample_real, seed=seed, n_fixed=40, sample_every=max(1, steps // 8),
                        eval_fn=eval_fn, eval_every=max(1, steps // 16), checkpoint=checkpoint,
                        checkpoint_every=max(1, steps // 20), G_ema=G_ema,
                        ema_decay=recipe.ema_decay or 0.0, **train_kwargs)
    if G_ema is not None:
        standing_statistics(G_ema, seed=seed)
    cpu_seconds, wall_seconds = time.process_time() - cpu_start, time.perf_counter() - wall_start

    samples = torch.cat([shipped.sample(1000, seed=seed + i) for i in range(max(1, n_final // 1000))])[:n_final]
    real, fake = extract_features(x_test[:n_final], progress=False), extract_features(samples, progress=False)
    digits = fake.probs.argmax(1)
    shares = (torch.bincount(digits, minlength=10).float() / len(digits)).tolist()
    pr = precision_recall(real.features, fake.features, k=3)
    metrics = {"fid_mnist_features": round(frechet_distance(real.features, fake.features), 3),
               "precision": round(pr.precision, 4), "recall": round(pr.recall, 4),
               "digit_shares": [round(v, 4) for v in shares],
               "fid_curve": [[e["step"], round(e["fid"], 3)] for e in history["evals"]],
               "train_cpu_seconds": round(cpu_seconds, 1), "train_wall_seconds": round(wall_seconds, 1),
               "steps": steps, "threads": torch.get_num_threads(), "torch": torch.__version__}
    if conditional:
        asked = torch.arange(len(samples)) % G.num_classes  # the labels shipped.sample drew for
        metrics["class_agreement"] = round((digits == asked).float().mean().item(), 4)
    path = register(name, shipped, recipe.arch, recipe.g_kwargs, metrics, folder=out)
    grids = {step: (imgs * 255).round().to(torch.uint8) for step, imgs in history["samples"]}
    extra = path.with_name(f"{name}-history.pt")
    torch.save({"samples": grids, "fid_curve": metrics["fid_curve"],
                "d_loss": torch.tensor(history["d_loss"]), "g_loss": torch.tensor(history["g_loss"])}, extra)
    register_extra(name, extra, folder=out)
    checkpoint.unlink()
    print(f"{name}: FID {metrics['fid_mnist_features']:.2f} (MNIST features), precision "
          f"{pr.precision:.3f}, recall {pr.recall:.3f}, digit shares {metrics['digit_shares']}, "
          f"{cpu_seconds:.0f} s of CPU ({wall_seconds:.0f} s wall) -> {path}")
    return metrics


def pretrain_classifier(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train classifier recipe ``name`` (:data:`RECIPES`) on MNIST; record its test accuracy."""
    arch, kwargs, train_kwargs = RECIPES[name]
    x, y, x_test, y_test, train_kwargs = recipe_data(train_kwargs, quick, seed)
    model = build(arch, **kwargs)
    start = time.perf_counter()
    history = train_classifier(model, x, y, seed=seed, **train_kwargs)
    seconds = time.perf_counter() - start
    acc = accuracy(model, x_test, y_test)
    metrics = {"test_accuracy": round(acc, 4), "train_seconds": round(seconds, 1),
               "epochs": history[-1]["epoch"], "threads": torch.get_num_threads()}
    path = register(name, model, arch, kwargs, metrics, folder=out)
    print(f"{name}: test accuracy {acc:.2%} after {seconds:.0f} s of training -> {path}")
    return metrics


# Every recipe and the function that builds it, in the order `all` rebuilds them: "mnist-cnn"
# comes before the GAN it labels, "mnistm-cnn" before the CycleGAN it judges.
BUILDERS = {
    **{name: pretrain_classifier for name in sorted(RECIPES)},
    **{name: pretrain_gan for name in sorted(GAN_RECIPES)},
    **{name: pretrain_certified for name in sorted(CERTIFIED_RECIPES)},
    **{name: pretrain_variant for name in sorted(VARIANTS)},
    **{name: pretrain_robust for name in sorted(ROBUST_RECIPES)},
    **TRANSLATION_RECIPES,
}


def pretrain(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train recipe ``name`` from seed ``seed``, save it and return its manifest figures."""
    if name not in BUILDERS:
        raise ValueError(f"unknown recipe {name!r}; available: {list(BUILDERS)}")
    return BUILDERS[name](name, out, quick, seed)


FILE_TABLE = "## Every file and its sha256"


def update_data_readme(folder: Path | None = None) -> None:
    """Rewrite the file table at the end of data/README.md from the files in data/."""
    from .models.pretrained import sha256

    folder = Path(folder or pretrained_dir().parent)
    readme = folder / "README.md"
    head = readme.read_text().split(FILE_TABLE)[0]
    rows = [f"| `{p.relative_to(folder).as_posix()}` | {p.stat().st_size:,} | `{sha256(p)}` |"
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in {".gz", ".pt"}]
    readme.write_text(head + FILE_TABLE + "\n\n| file | bytes | sha256 |\n|---|---|---|\n"
                      + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coursekit.pretrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+",
                        choices=[*BUILDERS, "all"],
                        help="what to rebuild ('all' for every recipe)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default: {pretrained_dir()})")
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = list(BUILDERS) if "all" in args.names else args.names
    for name in names:
        pretrain(name, out=args.out, quick=args.quick, seed=args.seed)
    if args.out is None:
        update_data_readme()


if __name__ == "__main__":
    main()
