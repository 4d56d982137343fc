"""Recipes for notebook 06's shipped files (image-to-image translation):

* "mnist-cyclegan": the two generators of a CycleGAN between MNIST (domain A) and MNIST-M
  (domain B), the "mnist" preset of :mod:`coursekit.gan.cyclegan`. The domains are
  *unpaired* for real: A is MNIST training digits 0–29,999, B is MNIST-M built from digits
  30,000–59,999, so no digit appears in both, and no label is used.
* "mnist-cyclegan-nocycle": the same run with λ = 0, i.e. without the cycle term (Zhu et al.
  2017, §5.1.4 "GAN alone").
* "mnist-pix2pix": a U-Net from edge maps to MNIST digits (paired data); "mnist-pix2pix-half":
  from the upper half of a digit to the whole digit; "-l1" after either name: the same U-Net
  trained on the L1 term alone (no discriminator).
* "mnist-sr-l1" and "mnist-srgan": ×4 super-resolution (7 → 28 px) trained with L1, then
  SRGAN (content loss on "mnist-cnn" features + 10⁻³ adversarial), initialised from the L1 one.

The judge of MNIST → MNIST-M translations, "mnistm-cnn", is a classifier recipe
(:mod:`coursekit.pretrain.classifiers`). Each records in the manifest the figures its test
checks (semantic consistency both ways, accuracy, PSNR, FID on the 10,000 test digits).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import pretrained_dir
from ..data import mnist, mnist_m
from ..models import build, load_pretrained
from ..models.pretrained import load_checkpoint, read_manifest
from ..train import accuracy
from .preamble import QUICK_STEPS, QUICK_TEST, QUICK_TRAIN, Run

LENET_FEATURE_LAYER = 11  # the ReLU after LeNet's Linear(120 → 84): its 84-d penultimate features
N_A = 30_000  # MNIST training digits [0, N_A) are domain A, MNIST-M of [N_A, 60,000) domain B

CYCLEGAN_STEPS = 6000
# name -> changes to the "mnist" preset (the preset itself is the shipped recipe)
CYCLEGAN_VARIANTS: dict[str, dict] = {
    "mnist-cyclegan": {},
    # Zhu et al. 2017, §5.1.4 "GAN alone": no cycle term at all
    "mnist-cyclegan-nocycle": {"lambda_cycle": 0.0, "lambda_cycle_b": 0.0},
}
# D: PatchDiscriminator(n_layers=1), each score sees a 16×16 window of the 28-px pair (12×12 scores)
PIX2PIX = {"arch": {"in_channels": 1, "out_channels": 1, "num_downs": 2, "ngf": 32},
           "ndf": 32, "n_layers": 1, "steps": 2000, "batch_size": 32}
# name -> (task, adversarial?): the task's pairs come from coursekit.data.translation
PIX2PIX_VARIANTS = {"mnist-pix2pix": ("edges", True), "mnist-pix2pix-l1": ("edges", False),
                    "mnist-pix2pix-half": ("half", True), "mnist-pix2pix-half-l1": ("half", False)}
SR = {"arch": {"channels": 1, "nf": 32, "n_blocks": 4, "factor": 4},
      "l1": {"steps": 3000, "batch_size": 32, "lr": 1e-3, "schedule": "cosine"},
      "gan": {"steps": 1200, "batch_size": 32, "lr": 1e-4, "schedule": "constant", "ndf": 32, "feature_layer": 13}}


def _model(name: str, out: Path | None, rebuilt: bool = True):
    """A model this recipe depends on: from ``out`` if it was rebuilt there (and ``rebuilt``),
    else the shipped one.

    Loading no longer draws from the global RNG, but it did (the architecture was built, with
    random initial weights, before the stored ones replaced them) when the shipped files were
    made, between the recipe's seeding and its own networks' initialisation. The draw is made
    here once more, its result thrown away, so that each command rebuilds its shipped file
    bit for bit."""
    path = Path(out or pretrained_dir()) / f"{name}.pt"
    if rebuilt and out is not None and path.is_file():
        model = load_checkpoint(path, name=name)
    else:
        path, model = pretrained_dir() / read_manifest()[name]["file"], load_pretrained(name)
    stored = torch.load(path, map_location="cpu", weights_only=True)
    build(stored["arch"], **stored["kwargs"])                 # the draw loading used to make
    return model


def unpaired_domains(n: int | None = None):
    """Samplers ``(sample_a, sample_b)`` of the two training piles, each ``(n, generator)`` → a
    float batch: A = MNIST training digits [0, N_A), B = MNIST-M of digits [N_A, 60,000), so no
    digit is in both. The piles stay uint8 in memory; ``n`` keeps only the first n of each."""
    a = mnist("train").images[:N_A][:n]          # (N, 28, 28) uint8
    b = mnist_m("train").images[N_A:][:n]        # (N, 3, 28, 28) uint8

    def sample_a(k, g):
        return a[torch.randint(len(a), (k,), generator=g)].unsqueeze(1).float() / 255

    def sample_b(k, g):
        return b[torch.randint(len(b), (k,), generator=g)].float() / 255

    return sample_a, sample_b


def semantic_consistency(gens, judge_a, judge_b, n: int | None = None) -> dict:
    """Both directions on the first ``n`` test digits (all 10,000 if None): the share of
    G_ab(MNIST) that "mnistm-cnn" labels right, and of G_ba(MNIST-M) that "mnist-cnn" does."""
    from ..gan.cyclegan import translation_accuracy

    xa, ya = mnist("test").tensors(n)
    xb, yb = mnist_m("test").tensors(n)
    return {"mnist_to_mnistm": translation_accuracy(gens.g_ab, judge_b, xa, ya),
            "mnistm_to_mnist": translation_accuracy(gens.g_ba, judge_a, xb, yb)}


def pretrain_cyclegan(name: str = "mnist-cyclegan", out: Path | None = None, quick: bool = False,
                      seed: int = 0) -> dict:
    """CycleGAN MNIST ↔ MNIST-M: the "mnist" preset with the changes of variant ``name``
    (:data:`CYCLEGAN_VARIANTS`). Records semantic consistency over training (1,000 test digits)
    and at the end (all 10,000), and the loss history in ``<name>-history.pt``."""
    from ..gan.cyclegan import build_cyclegan, generator_kwargs, get_preset, train_cyclegan

    config = get_preset("mnist", **CYCLEGAN_VARIANTS[name])
    run = Run(name, out, quick, seed)
    steps, n_curve, n_final = run.size((CYCLEGAN_STEPS, 1000, None), (QUICK_STEPS, 100, 200))
    sample_a, sample_b = unpaired_domains(n=run.size(None, QUICK_TRAIN))
    judge_a, judge_b = _model("mnist-cnn", out, rebuilt=False), _model("mnistm-cnn", out)
    gens, d_a, d_b = build_cyclegan(config)
    with run.timed():
        history = train_cyclegan(
            gens, d_a, d_b, sample_a, sample_b, config, steps, seed=seed,
            eval_fn=lambda G: semantic_consistency(G, judge_a, judge_b, n_curve), eval_every=max(1, steps // 10))
    final = semantic_consistency(gens, judge_a, judge_b, n_final)
    metrics = {"semantic_consistency": {k: round(v, 4) for k, v in final.items()},
               "consistency_curve": [[e["step"], round(e["mnist_to_mnistm"], 4), round(e["mnistm_to_mnist"], 4)]
                                     for e in history["evals"]],
               "lambda_cycle": config.lambda_cycle, "lambda_cycle_b": config.lambda_cycle_b,
               "steps": steps, "batch_size": config.batch_size}
    losses = {k: torch.tensor(v) for k, v in history.items() if k != "evals"}
    return run.finish(gens, "cyclegan-generators", generator_kwargs(config), metrics,
                      f"semantic consistency MNIST → MNIST-M {final['mnist_to_mnistm']:.2%}, "
                      f"MNIST-M → MNIST {final['mnistm_to_mnist']:.2%}",
                      extra={"losses": losses, "consistency_curve": metrics["consistency_curve"]})


def pretrain_pix2pix(name: str = "mnist-pix2pix", out: Path | None = None, quick: bool = False,
                     seed: int = 0) -> dict:
    """pix2pix (U-Net, conditional PatchGAN, λ_L1 = 100) on one of two paired tasks: Sobel
    edges → MNIST digits ("mnist-pix2pix"), or the upper half of a digit → the whole digit
    ("mnist-pix2pix-half"). The "-l1" variants train the same U-Net on the L1 term alone, the
    baseline of Isola et al. 2017 (Table 1), with the same steps and data."""
    from ..data.translation import edges_and_digits, half_and_digits
    from ..gan.cyclegan import translate
    from ..gan.pix2pix import UnetGenerator, conditional_discriminator, train_pix2pix
    from ..gan.superres import classifier_features, feature_fid
    from ..metrics import fid

    task, adversarial = PIX2PIX_VARIANTS[name]
    pairs = edges_and_digits if task == "edges" else half_and_digits
    run = Run(name, out, quick, seed)
    inputs, outputs, _ = pairs("train", run.size(None, QUICK_TRAIN))
    inputs_t, outputs_t, labels_t = pairs("test", run.size(None, QUICK_TEST))
    steps = run.size(PIX2PIX["steps"], QUICK_STEPS)
    G = UnetGenerator(**PIX2PIX["arch"])
    D = conditional_discriminator(1, 1, ndf=PIX2PIX["ndf"], n_layers=PIX2PIX["n_layers"]) if adversarial else None

    def sample_pairs(n, g):
        i = torch.randint(len(inputs), (n,), generator=g)
        return inputs[i], outputs[i]

    with run.timed():
        train_pix2pix(G, D, sample_pairs, steps, batch_size=PIX2PIX["batch_size"], seed=seed)
    with torch.no_grad():
        fake = translate(G, inputs_t)
    acc = accuracy(load_pretrained("mnist-cnn"), fake, labels_t)
    lenet = classifier_features(load_pretrained("mnist-lenet"), layer=LENET_FEATURE_LAYER)
    metrics = {"test_accuracy_of_mnist_cnn": round(acc, 4), "test_l1": round((fake - outputs_t).abs().mean().item(), 4),
               "fid_mnist_features": round(fid(fake, outputs_t, progress=False), 3),
               "fid_lenet_features": round(feature_fid(lenet, fake, outputs_t), 3),
               "task": task, "adversarial": adversarial, "steps": steps, "batch_size": PIX2PIX["batch_size"],
               "d_layers": PIX2PIX["n_layers"] if D is not None else None}
    return run.finish(G, "unet-generator", PIX2PIX["arch"], metrics,
                      f"mnist-cnn labels {acc:.2%} of the drawn test digits right")


def sr_scores(G, n: int | None = None) -> dict:
    """PSNR (dB) and FID of G's ×4 upscaling of the first ``n`` test digits (all 10,000 if None)
    against the digits themselves; G=None scores bicubic interpolation. FID twice: in the
    features of "mnist-cnn" (whose last convolution is also SRGAN's content loss, so that FID
    is partly circular) and of "mnist-lenet", which no super-resolution model trained against."""
    from ..gan.superres import bicubic, classifier_features, downscale, feature_fid, psnr, upscale
    from ..metrics import fid

    x, _ = mnist("test").tensors(n)
    low = downscale(x)
    up = bicubic(low) if G is None else upscale(G, low).detach()
    lenet = classifier_features(load_pretrained("mnist-lenet"), layer=LENET_FEATURE_LAYER)
    return {"psnr": psnr(up, x), "fid": fid(up, x, progress=False), "fid_lenet": feature_fid(lenet, up, x)}


def pretrain_sr(name: str = "mnist-sr-l1", out: Path | None = None, quick: bool = False,
                seed: int = 0) -> dict:
    """×4 super-resolution of MNIST digits: "mnist-sr-l1" (L1), or "mnist-srgan" (SRGAN,
    initialised from "mnist-sr-l1" as Ledig et al. start from SRResNet). Both record the PSNR
    on the first 1,000 test digits along training, so that one can see whether the L1 network
    had converged before SRGAN took over."""
    from ..gan.superres import SRDiscriminator, SRGenerator, classifier_features, downscale, psnr, train_sr

    run = Run(name, out, quick, seed)
    x = mnist("train").tensors(run.size(None, QUICK_TRAIN))[0]
    sample = lambda n, g: x[torch.randint(len(x), (n,), generator=g)]  # noqa: E731
    x_curve = mnist("test").tensors(run.size(1000, 100))[0]
    curve = lambda G: {"psnr": psnr(G(downscale(x_curve)), x_curve)}  # noqa: E731
    gan = name == "mnist-srgan"
    recipe = run.shrink(dict(SR["gan" if gan else "l1"]), "steps")
    G = SRGenerator(**SR["arch"])
    gan_args = {}
    if gan:
        G.load_state_dict(_model("mnist-sr-l1", out).state_dict())
        gan_args = {"D": SRDiscriminator(channels=1, ndf=recipe["ndf"]),
                    "phi": classifier_features(_model("mnist-cnn", out, rebuilt=False),
                                               layer=recipe["feature_layer"])}
    with run.timed():
        history = train_sr(G, sample, recipe["steps"], recipe["batch_size"], recipe["lr"], seed=seed,
                           schedule=recipe["schedule"], eval_fn=curve, eval_every=max(1, recipe["steps"] // 10),
                           **gan_args)
    n = run.size(None, 500)
    scores = {"bicubic": sr_scores(None, n), name: sr_scores(G, n)}
    metrics = {"psnr_db": {k: round(v["psnr"], 3) for k, v in scores.items()},
               "fid_mnist_features": {k: round(v["fid"], 3) for k, v in scores.items()},
               "fid_lenet_features": {k: round(v["fid_lenet"], 3) for k, v in scores.items()},
               "psnr_curve": [[e["step"], round(e["psnr"], 3)] for e in history["evals"]],
               "steps": recipe["steps"], "batch_size": recipe["batch_size"], "lr": recipe["lr"],
               "schedule": recipe["schedule"]}
    return run.finish(G, "sr-generator", SR["arch"], metrics,
                      f"PSNR {metrics['psnr_db'][name]:.2f} dB (bicubic {metrics['psnr_db']['bicubic']:.2f}), "
                      f"FID {metrics['fid_mnist_features'][name]:.2f} "
                      f"(bicubic {metrics['fid_mnist_features']['bicubic']:.2f})")


# name -> recipe function(name, out, quick, seed); in dependency order (inits first)
TRANSLATION_RECIPES = {
    **{name: pretrain_cyclegan for name in CYCLEGAN_VARIANTS},
    **{name: pretrain_pix2pix for name in PIX2PIX_VARIANTS},
    "mnist-sr-l1": pretrain_sr,
    "mnist-srgan": pretrain_sr,
}
