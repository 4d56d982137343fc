"""Rebuild the shipped pretrained files: ``python -m coursekit.pretrain NAME``.

Each recipe trains from a fixed seed, measures what the file is tested for (test accuracy
on the full MNIST test set), prints its time, and records file, sha256 and figures in
``data/pretrained/manifest.json``. ``--quick`` runs a tiny version (for tests), and
``--out DIR`` writes somewhere other than data/pretrained/.

Where each recipe is (the algorithms they call live in their own packages):

=================  ==================================================================
module             recipes
=================  ==================================================================
``preamble``       what every recipe shares: :class:`Run` (seed, quick-mode sizes,
                   CPU and wall time, threads, registering, the final line printed)
``classifiers``    "mnist-cnn", "mnist-mlp", "mnist-lenet", "mnistm-cnn" (:data:`RECIPES`)
``gans``           "mnist-dcgan", "mnist-dcgan-unlabelled", "mnist-cdcgan"
                   (:data:`GAN_RECIPES`)
``defended``       "mnist-cnn-robust", "mnist-cnn-trades" (:data:`ROBUST_RECIPES`), the adversarial-training
                   :data:`VARIANTS`, "mnist-certified" (:data:`CERTIFIED_RECIPES`)
``translation``    CycleGAN, pix2pix and super-resolution (:data:`TRANSLATION_RECIPES`)
=================  ==================================================================
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import pretrained_dir
from .classifiers import RECIPES, ClassifierRecipe, pretrain_classifier
from .defended import (CERTIFIED_RECIPES, N_EVAL, N_REPEAT, ROBUST_RECIPES, VARIANTS, pretrain_certified,
                       pretrain_robust, pretrain_variant)
from .gans import GAN_RECIPES, GANRecipe, pretrain_gan
from .preamble import Run
from .translation import (LENET_FEATURE_LAYER, PIX2PIX, PIX2PIX_VARIANTS, SR, TRANSLATION_RECIPES,
                          pretrain_cyclegan, pretrain_pix2pix, pretrain_sr, semantic_consistency,
                          sr_scores, unpaired_domains)

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
    from ..models.pretrained import sha256

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


__all__ = ["BUILDERS", "CERTIFIED_RECIPES", "ClassifierRecipe", "GANRecipe", "GAN_RECIPES",
           "LENET_FEATURE_LAYER", "N_EVAL", "N_REPEAT", "PIX2PIX", "PIX2PIX_VARIANTS", "RECIPES",
           "ROBUST_RECIPES", "Run", "SR", "TRANSLATION_RECIPES", "VARIANTS", "main", "pretrain",
           "pretrain_certified", "pretrain_classifier", "pretrain_cyclegan", "pretrain_gan",
           "pretrain_pix2pix", "pretrain_robust", "pretrain_sr", "pretrain_variant",
           "semantic_consistency", "sr_scores", "unpaired_domains", "update_data_readme"]
