"""Rebuild the shipped pretrained files: ``python -m coursekit.pretrain NAME``.

Each recipe trains from a fixed seed, measures what the file is tested for (test accuracy
on the full MNIST test set), prints its time, and records file, sha256 and figures in
``data/pretrained/manifest.json``. ``--quick`` runs a tiny version (for tests), and
``--out DIR`` writes somewhere other than data/pretrained/.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .config import pretrained_dir, seed_all
from .data import mnist
from .defenses.adversarial import ROBUST_RECIPES, pretrain_robust
from .defenses.certified_training import CERTIFIED_RECIPES, pretrain_certified
from .defenses.variants import VARIANTS, pretrain_variant
from .models import build
from .models.pretrained import register, register_extra
from .pretrain_translation import RECIPES as TRANSLATION_RECIPES
from .train import accuracy, predict, random_shift, train_classifier

# name -> (architecture, its arguments, training arguments)
RECIPES = {
    "mnist-cnn": ("mnist-cnn", {}, {"epochs": 6, "lr": 3e-3, "batch_size": 128, "augment": random_shift}),
    "mnist-mlp": ("mnist-mlp", {}, {"epochs": 8, "lr": 2e-3, "batch_size": 128}),
    "mnist-lenet": ("mnist-lenet", {}, {"epochs": 5, "lr": 3e-3, "batch_size": 128}),
}


# name -> (generator architecture, its arguments, train_gan arguments); D is a DCGANDiscriminator.
GAN_RECIPES = {
    "mnist-dcgan": ("dcgan-generator", {"latent_dim": 64, "ngf": 32},
                    {"loss": "non-saturating", "steps": 10000, "batch_size": 64, "ndf": 32}),
}


def pretrain_gan(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train GAN recipe ``name`` on the MNIST training digits.

    Records in the manifest: the FID curve over training (MNIST features, 2,000 samples
    against 2,000 test digits), the final FID on 10,000 against the 10,000 test digits, and the
    share of each digit among 10,000 samples as labelled by "mnist-cnn". The fixed-noise
    sample grids over training go to ``<name>-history.pt`` (checksummed in the manifest too).
    """
    from .gan import DCGANDiscriminator, train_gan
    from .metrics import fid
    from .models import load_pretrained

    arch, kwargs, train_kwargs = GAN_RECIPES[name]
    train_kwargs = dict(train_kwargs)
    ndf = train_kwargs.pop("ndf")
    if quick:
        train_kwargs["steps"] = 4
    steps = train_kwargs["steps"]
    n_eval, n_final = (200, 500) if quick else (2_000, 10_000)
    seed_all(seed)
    x, _ = mnist("train").tensors()
    x_test, _ = mnist("test").tensors()
    G, D = build(arch, **kwargs), DCGANDiscriminator(ndf=ndf)

    def eval_fn(G):
        return {"fid": float(fid(G.sample(n_eval, seed=seed), x_test[:n_eval], progress=False))}

    start = time.perf_counter()
    history = train_gan(G, D, lambda n, g: x[torch.randint(len(x), (n,), generator=g)], seed=seed,
                        n_fixed=32, sample_every=max(1, steps // 8), eval_fn=eval_fn,
                        eval_every=max(1, steps // 8), **train_kwargs)
    seconds = time.perf_counter() - start
    samples = torch.cat([G.sample(1000, seed=seed + i) for i in range(max(1, n_final // 1000))])[:n_final]
    digits = predict(load_pretrained("mnist-cnn"), samples).argmax(1)
    shares = (torch.bincount(digits, minlength=10).float() / len(digits)).tolist()
    final_fid = float(fid(samples, x_test[:n_final], progress=False))
    metrics = {"digit_shares": [round(v, 4) for v in shares], "fid_mnist_features": round(final_fid, 3),
               "fid_curve": [[e["step"], round(e["fid"], 3)] for e in history["evals"]],
               "train_seconds": round(seconds, 1), "steps": steps, "threads": torch.get_num_threads()}
    path = register(name, G, arch, kwargs, metrics, folder=out)
    grids = {step: (imgs * 255).round().to(torch.uint8) for step, imgs in history["samples"]}
    extra = path.with_name(f"{name}-history.pt")
    torch.save({"samples": grids, "fid_curve": metrics["fid_curve"]}, extra)
    register_extra(name, extra, folder=out)
    print(f"{name}: FID {final_fid:.2f} (MNIST features), digit shares {metrics['digit_shares']}, "
          f"{seconds:.0f} s of training -> {path}")
    return metrics


def pretrain_classifier(name: str, out: Path | None = None, quick: bool = False, seed: int = 0) -> dict:
    """Train classifier recipe ``name`` (:data:`RECIPES`) on MNIST; record its test accuracy."""
    arch, kwargs, train_kwargs = RECIPES[name]
    seed_all(seed)
    x, y = mnist("train").tensors()
    x_test, y_test = mnist("test").tensors()
    if quick:
        x, y, x_test, y_test = x[:512], y[:512], x_test[:256], y_test[:256]
        train_kwargs = {**train_kwargs, "epochs": 1}
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
