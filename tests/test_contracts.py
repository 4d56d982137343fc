"""The package's contract, checked on every public name of coursekit.attacks, .metrics, .gan,
.defenses, .data and .models.

Each name has one entry in ``TABLE``: how to call it on tiny seeded inputs (an MLP on a few
random 1×28×28 images, a two-dimensional toy GAN, small feature matrices) and which contract
points apply:

1. bad arguments (NaN or wrong-shape images, labels out of range or of a float dtype,
   non-positive ε/steps/batch sizes, an int where a ``torch.Generator`` belongs) raise
   ``ValueError``/``TypeError`` whose message names the argument; an empty batch gives an
   empty or well-defined result or such an error, never a crash from inside torch;
2. the call leaves the caller's world as it was: input tensors, every model's parameters,
   buffers, ``.grad``, train/eval flags and ``requires_grad`` flags, and the global random
   states (Python, NumPy, torch). ``changes`` lists, with the reason, what a function's
   documented job is to change (an optimiser step, a training loop), the allow-list;
3. batch equals single (to 1e-6) for deterministic functions that work example by example.

A public name without an entry fails ``test_every_public_name_has_an_entry``: a new function
gets its contract when it is added.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
from types import SimpleNamespace
from typing import Any, Callable

import matplotlib
import pytest
import torch
from torch import nn

from contract_helpers import global_states, requires_grad_flags, same_states, snapshot_model
from coursekit import attacks as A
from coursekit import data as Dt
from coursekit import defenses as F
from coursekit import gan as G
from coursekit import metrics as M
from coursekit import models as Mo
from coursekit import modes as Md
from coursekit import train as T

matplotlib.use("Agg")
MODULES = {"attacks": A, "metrics": M, "gan": G, "defenses": F, "data": Dt, "models": Mo,
           "train": T, "modes": Md}
N = 4                       # images per batch


# ------------------------------------------------------------------ the world a call sees
def make_world(n: int = N) -> SimpleNamespace:
    """Tiny seeded inputs; the models start in train mode with one submodule in eval mode and
    one frozen parameter, so that a function that switches modes (either way) or unfreezes
    without restoring is seen."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
        other = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        gen = G.MLPGenerator(latent_dim=2, out_dim=2, hidden=8)
        disc = G.MLPDiscriminator(in_dim=2, hidden=8)
    model[1].bias.requires_grad_(False)
    disc.net[0].bias.requires_grad_(False)
    model.train(), gen.train(), disc.train()
    model[0].eval(), disc.net[0].eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    return SimpleNamespace(
        model=model, other=other.train(), G=gen, D=disc,
        x=x, y=torch.randint(0, 10, (n,), generator=g), x_adv=(x + 0.05).clamp(0, 1),
        points=torch.randn(n, 2, generator=g), z=torch.randn(n, 2, generator=g),
        feats_a=torch.randn(12, 3, generator=g), feats_b=torch.randn(12, 3, generator=g) + 0.5,
        probs=torch.softmax(torch.randn(12, 10, generator=g), 1),
        reals=torch.rand(6, 1, 28, 28, generator=g), split="test", arch="mnist-mlp",
        eps=0.1, steps=2, batch_size=2, n=n, generator=torch.Generator().manual_seed(1))


def budget():
    return F.AttackBudget(eps=0.1, pgd_steps=1, strong_steps=1, restarts=1, spsa_steps=1,
                          spsa_samples=2, unbounded_steps=1, cert_eps=0.05)


@dataclasses.dataclass
class Entry:
    run: Callable[[SimpleNamespace], Any] | None     # the call on the world's valid inputs
    bad: dict = dataclasses.field(default_factory=dict)  # field -> (argument name, cases)
    per_example: bool = False                         # deterministic, example by example
    changes: dict = dataclasses.field(default_factory=dict)  # contract point -> why allowed
    empty: bool | str = True                          # try an empty batch ("x" in bad); str: why not
    why_not_run: str = ""                             # constants and records: nothing to call


def E(run, bad=(), per_example=False, changes=None, empty=True):
    """``bad``: world fields whose bad values must be refused, as a tuple (the argument has the
    field's name; "x:3d" tries only that case) or a dict field -> argument name."""
    if isinstance(bad, (tuple, list)):
        bad = {b.split(":")[0]: (b.split(":")[0], b.split(":")[1:]) for b in bad}
    bad = {f: v if isinstance(v, tuple) else (v, []) for f, v in bad.items()}
    return Entry(run, bad, per_example, changes or {}, empty)


def const(why="a constant: nothing to call"):
    return Entry(None, why_not_run=why)


TRAINS = "its documented job is an optimiser step on the model it is given"
LOOP = ("a training loop: it updates the model's parameters (its documented job); it hands "
        "every module back in the mode it came in")
NN_INIT = "builds a torch.nn module, whose layers draw their initial weights from torch's global RNG"
XY, XYE = ("x", "y"), ("x", "y", "eps")
ck_loss = G.get_loss("non-saturating")


def _fake_defended(w):
    return F.Defense("tiny", w.model)


def _row(w):
    return F.evaluate_defense(_fake_defended(w), w.x, w.y, budget=budget(), batch_size=w.batch_size)


def _system(w):
    det = _built(F.ActivationDetector, w.model, layer=2, width=4)
    return F.RejectOrClassify(w.model, det)


def _built(cls, *args, **kwargs):
    """A module with seeded weights (torch's global stream untouched); in eval mode unless it
    shares the world's layers. Building a bare torch.nn module draws from the global RNG (see
    the entry of ``build``)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = cls(*args, **kwargs)
    return module if args else module.eval()


def _many(x):
    """Enough images for a full-rank covariance of the 128 MNIST features."""
    return torch.cat([x] * 33)


def _vbn(w):
    vbn = G.VirtualBatchNorm(3)
    vbn.set_reference(torch.randn(4, 3, 2, 2, generator=w.generator))
    return vbn(torch.randn(4, 3, 2, 2, generator=w.generator))


def _sample_real(n, g):
    return torch.randn(n, 2, generator=g)


TABLE: dict[str, dict[str, Entry]] = {"attacks": {
    "AutoAttackResult": E(lambda w: A.AutoAttackResult(w.x, [], [], 1.0, 0.5)),
    "apgd": E(lambda w: A.apgd(w.model, w.x, w.y, w.eps, steps=w.steps, generator=w.generator),
              XYE + ("steps", "generator")),
    "apgd_t": E(lambda w: A.apgd_t(w.model, w.x, w.y, w.eps, steps=w.steps, targets=2,
                                   generator=w.generator), XYE + ("steps", "generator")),
    "autoattack": E(lambda w: A.autoattack(w.model, w.x, w.y, w.eps, steps=w.steps, targets=2,
                                           queries=10, batch_size=w.batch_size).x_adv,
                    XYE + ("steps", "batch_size")),
    "dlr_loss": E(lambda w: A.dlr_loss(w.model(w.x), w.y), ("y",), per_example=True),
    "square": E(lambda w: A.square(w.model, w.x, w.y, w.eps, queries=10, generator=w.generator),
                XYE + ("generator",)),
    "square_only": E(lambda w: A.square_only(A.autoattack(w.model, w.x, w.y, w.eps, steps=1,
                                                          targets=1, queries=5))),
    "QueryBudgetExceeded": E(lambda w: A.QueryBudgetExceeded("budget spent")),
    "QueryCounter": E(lambda w: A.QueryCounter(w.model, limit=10)(w.x)),  # wraps any black box
    "adversarial_patch": E(lambda w: A.adversarial_patch(w.model, w.x, 3, size=4, steps=w.steps,
                                                         batch_size=w.batch_size,
                                                         generator=w.generator),
                           ("x", "steps", "batch_size", "generator")),
    "apply_patch": E(lambda w: A.apply_patch(w.x, torch.ones(1, 4, 4),
                                             torch.zeros(w.n, dtype=torch.long),
                                             torch.full((w.n,), 2)), ("x:3d",), per_example=True),
    "apply_perturbation": E(lambda w: A.apply_perturbation(w.x, torch.full((1, 28, 28), 0.1)),
                            ("x",), per_example=True),
    "cw_l2": E(lambda w: A.cw_l2(w.model, w.x, w.y, steps=w.steps, binary_search_steps=1),
               ("x", "y", "steps"), per_example=True),
    "deepfool": E(lambda w: A.deepfool(w.model, w.x, w.y, max_iter=w.steps), XY, per_example=True),
    "default_step": E(lambda w: A.default_step(w.eps, 100, 2), ("eps",)),
    "eot_pgd": E(lambda w: A.eot_pgd(w.model, w.x, w.y, w.eps, w.eps / 4, w.steps, samples=2,
                                     generator=w.generator), XYE + ("steps", "generator")),
    "fd_gradient": E(lambda w: A.fd_gradient(w.model, w.x, w.y), XY, per_example=True),
    "fgsm": E(lambda w: A.fgsm(w.model, w.x, w.y, w.eps), XYE, per_example=True),
    "finite_difference_attack": E(lambda w: A.finite_difference_attack(
        w.model, w.x, w.y, w.eps, max_queries=20, coords=4, generator=w.generator),
        XYE + ("generator",)),
    "fooling_rate": E(lambda w: A.fooling_rate(w.model, w.x, torch.full((1, 28, 28), 0.1)), ("x",)),
    "jsma": E(lambda w: A.jsma(w.model, w.x, w.y, gamma=0.01), XY, per_example=True),
    "leave_one_out_rates": E(lambda w: A.leave_one_out_rates(
        {"a": w.model, "b": w.other, "c": w.model}, w.x, w.y,
        lambda m, x, y: A.fgsm(m, x, y, w.eps)), XY),
    "margin_loss": E(lambda w: A.margin_loss(w.model(w.x), w.y, False), ("y",),
                     per_example=True),
    "mi_fgsm": E(lambda w: A.mi_fgsm(w.model, w.x, w.y, w.eps, steps=w.steps),
                 XYE + ("steps",), per_example=True),
    "no_transform": E(lambda w: A.no_transform(w.x), per_example=True),  # the identity
    "optimize_input": E(lambda w: A.optimize_input(w.model, w.x, w.y, steps=w.steps)[0],
                        ("x", "y", "steps"), per_example=True),
    "patch_success_rate": E(lambda w: A.patch_success_rate(w.model, w.x, w.y, torch.ones(1, 4, 4),
                                                           3, generator=w.generator),
                            ("x", "y", "generator")),
    "pgd": E(lambda w: A.pgd(w.model, w.x, w.y, w.eps, w.eps / 4, w.steps, random_start=False),
             XYE + ("steps",), per_example=True),
    "random_rotate_translate": E(lambda w: A.random_rotate_translate(w.x, generator=w.generator),
                                 ("x:3d", "generator")),
    "rho_adv": E(lambda w: A.rho_adv(w.x, w.x_adv), ("x",)),
    "rotate_translate": E(lambda w: A.rotate_translate(w.x, 10.0, 1.0, -1.0), ("x:3d",),
                          per_example=True),
    "spatial_attack": E(lambda w: A.spatial_attack(w.model, w.x, w.y, n_angles=3, n_shifts=3),
                        XY, per_example=True),
    "spsa": E(lambda w: A.spsa(w.model, w.x, w.y, w.eps, max_queries=20, samples=2,
                               generator=w.generator), XYE + ("generator",)),
    "spsa_gradient": E(lambda w: A.spsa_gradient(w.model, w.x, w.y, samples=2,
                                                 generator=w.generator), XY + ("generator",)),
    "survival_rate": E(lambda w: A.survival_rate(w.model, w.x, w.y, samples=2,
                                                 generator=w.generator),
                       {"x": "x_adv", "y": "y", "generator": "generator"}),
    "transfer_rates": E(lambda w: A.transfer_rates({"a": w.model, "b": w.other}, w.x, w.y,
                                                   lambda m, x, y: A.fgsm(m, x, y, w.eps)), XY),
    "universal_perturbation": E(lambda w: A.universal_perturbation(
        w.model, w.x, max_passes=1, max_iter=w.steps, generator=w.generator), ("x", "generator")),
}, "metrics": {
    "FEATURE_NETWORKS": const(),
    "MNIST_FEATURE_LAYER": const(),
    "Features": E(lambda w: M.Features(w.feats_a, w.probs)),
    "extract_features": E(lambda w: M.extract_features(w.x, batch_size=w.batch_size,
                                                       progress=False).features,
                          {"x": "images", "batch_size": "batch_size"}, per_example=True),
    "feature_network": E(lambda w: M.feature_network("mnist")(w.x)),
    "FIDInfinity": E(lambda w: M.FIDInfinity(1.0, 0.1, [4], [1.0])),
    "fid_infinity": E(lambda w: M.fid_infinity(torch.randn(40, 3, generator=w.generator),
                                               torch.randn(40, 3, generator=w.generator) + 1,
                                               sizes=[10, 20, 30])),
    "frechet_distance": E(lambda w: M.frechet_distance(w.feats_a, w.feats_b), {"feats_a": "features_a"}),
    "gaussian_statistics": E(lambda w: M.gaussian_statistics(w.feats_a), {"feats_a": "features"}),
    "inception_score": E(lambda w: M.inception_score(w.probs, splits=2), ("probs",)),
    "kid": E(lambda w: M.kid(w.feats_a, w.feats_b, subsets=2, subset_size=4),
             {"feats_a": "features_a"}),
    "PrecisionRecall": E(lambda w: M.PrecisionRecall(0.5, 0.5)),
    "precision_recall": E(lambda w: M.precision_recall(w.feats_a, w.feats_b, k=2),
                          {"feats_a": "features_real"}),
    "evaluate": E(lambda w: M.evaluate(_many(w.x), _many(w.x_adv), kid_subsets=2, kid_subset_size=2, k=2,
                                       batch_size=w.batch_size, progress=False),
                  {"x": "images_real", "batch_size": "batch_size"}),
    "evaluate_features": E(lambda w: M.evaluate_features(
        M.Features(w.feats_a, w.probs), M.Features(w.feats_b, w.probs), kid_subsets=2,
        kid_subset_size=4, k=2)),
    "fid": E(lambda w: M.fid(_many(w.x), _many(w.x_adv), batch_size=w.batch_size, progress=False),
             {"x": "images_a", "batch_size": "batch_size"}),
    "image_inception_score": E(lambda w: M.image_inception_score(
        w.x, splits=2, batch_size=w.batch_size, progress=False),
        {"x": "images", "batch_size": "batch_size"}),
    "image_kid": E(lambda w: M.image_kid(w.x, w.x_adv, subsets=2, subset_size=2,
                                         batch_size=w.batch_size, progress=False),
                   {"x": "images_a", "batch_size": "batch_size"}),
    "image_precision_recall": E(lambda w: M.image_precision_recall(
        w.x, w.x_adv, k=2, batch_size=w.batch_size, progress=False),
        {"x": "images_real", "batch_size": "batch_size"}),
    "nearest_neighbours": E(lambda w: M.nearest_neighbours(w.x, w.reals, k=2,
                                                           batch_size=w.batch_size,
                                                           progress=False)[1],
                            {"x": "fakes", "batch_size": "batch_size"}, per_example=True),
    "show_nearest_neighbours": E(lambda w: M.show_nearest_neighbours(
        w.x, w.x_adv, torch.zeros(w.n, 2, dtype=torch.long), rows=2)),
    "classification_accuracy_score": E(lambda w: M.classification_accuracy_score(
        w.x, w.y, w.x_adv, w.y, arch="mnist-mlp", epochs=1, batch_size=w.batch_size),
        {"x": "x_fake", "y": "y_fake", "batch_size": "batch_size"}),
    "error_rate_ci": E(lambda w: M.error_rate_ci([True, False, True, True],
                                                 [True, True, False, True], n_boot=10 * w.steps),
                           {"steps": "n_boot"}),
}, "gan": {
    "LOSSES": const(),
    "GANLoss": E(lambda w: G.GANLoss("mine", lambda r, f: r.mean() - f.mean(), lambda f: -f.mean())),
    "get_loss": E(lambda w: G.get_loss("wgan-gp")),
    "ClassCodeDCGANGenerator": E(lambda w: _built(G.ClassCodeDCGANGenerator, noise_dim=2, ngf=4, depth=2)(
        torch.cat([w.z, torch.zeros(len(w.z), 10)], 1), w.y), ("y",), per_example=True),
    "ConditionalDCGANDiscriminator": E(lambda w: _built(G.ConditionalDCGANDiscriminator, ndf=4)(
        w.x, w.y), ("y",), per_example=True),
    "ConditionalDCGANGenerator": E(lambda w: _built(G.ConditionalDCGANGenerator, latent_dim=2,
                                                    ngf=4)(w.z, w.y), ("y",), per_example=True),
    "DCGANDiscriminator": E(lambda w: _built(G.DCGANDiscriminator, ndf=4)(w.x), per_example=True),
    "DCGANGenerator": E(lambda w: _built(G.DCGANGenerator, latent_dim=2, ngf=4)(w.z),
                        per_example=True),
    "MLPDiscriminator": E(lambda w: _built(G.MLPDiscriminator, in_dim=2, hidden=4)(w.points)),
    "MLPGenerator": E(lambda w: _built(G.MLPGenerator, hidden=2 * w.steps)(w.z), {"steps": "hidden"}),
    "VirtualBatchNorm": E(lambda w: _vbn(w)),
    "gaussian_1d": E(lambda w: G.gaussian_1d(w.n, generator=w.generator), ("n", "generator")),
    "grid": E(lambda w: G.grid(w.n, side=2, generator=w.generator), ("n", "generator")),
    "grid_modes": E(lambda w: G.grid_modes(side=2)),
    "mixture": E(lambda w: G.mixture(w.n, G.ring_modes(4), 0.1, generator=w.generator),
                 ("n", "generator")),
    "mode_metrics": E(lambda w: G.mode_metrics(w.points, G.ring_modes(4), w.eps), {"eps": "std"}),
    "ring": E(lambda w: G.ring(w.n, modes=4, generator=w.generator), ("n", "generator")),
    "ring_modes": E(lambda w: G.ring_modes(4)),
    "d_step": E(lambda w: G.d_step(w.G, w.D, w.points, w.z, ck_loss,
                                   torch.optim.SGD(w.D.parameters(), lr=0.1), generator=w.generator),
                changes={"params": TRAINS, "grad": TRAINS}),
    "g_step": E(lambda w: G.g_step(w.G, w.D, w.z, ck_loss, torch.optim.SGD(w.G.parameters(), lr=0.1)),
                changes={"params": TRAINS, "grad": TRAINS}),
    "train_gan": E(lambda w: G.train_gan(w.G, w.D, _sample_real, steps=w.steps,
                                         batch_size=w.batch_size, progress=False),
                   ("steps", "batch_size"), changes={"params": LOOP, "grad": LOOP}),
}, "defenses": {
    "DEFENDED_MODELS": const(),
    "RECIPES": const(),
    "AdvRecipe": E(lambda w: F.AdvRecipe(eps=w.eps, steps=w.steps, batch_size=w.batch_size),
                   ("eps", "steps", "batch_size")),
    "TrainedModel": E(lambda w: F.TrainedModel(w.model, [], 0.0)),
    "accuracy_under_attack": E(lambda w: F.accuracy_under_attack(
        w.model, w.x, w.y, lambda m, x, y: A.fgsm(m, x, y, w.eps), batch_size=w.batch_size),
        XY + ("batch_size",)),
    "adversarial_loss": E(lambda w: F.adversarial_loss(w.model, w.x, w.x_adv, w.y)[0], XY),
    "adversarial_training": E(lambda w: F.adversarial_training(
        w.model, w.x, w.y, F.AdvRecipe(eps=w.eps, epochs=1, batch_size=w.batch_size)), XY,
        changes={"params": LOOP, "grad": LOOP, "rng": (
            "the inner attack's random starts draw from torch's global RNG, which a resumed "
            "train_classifier run restores from its checkpoint; the shipped robust models and "
            "the notebooks' numbers depend on that stream")}),
    "fast_fgsm": E(lambda w: F.fast_fgsm(w.model, w.x, w.y, w.eps, w.eps, generator=w.generator),
                   XYE + ("generator",)),
    "held_out_accuracies": E(lambda w: F.held_out_accuracies(w.model, w.x, w.y, w.eps,
                                                             pgd_steps=w.steps), XYE),
    "inner_attack": E(lambda w: F.inner_attack(w.model, w.x, w.y, "pgd", w.eps, w.eps / 4,
                                               w.steps, generator=w.generator),
                      XYE + ("steps", "generator")),
    "plot_history": E(lambda w: F.plot_history({"a": [{"epoch": 1, "clean_acc": 0.9,
                                                        "fgsm_acc": 0.5, "pgd_acc": 0.1}]})),
    "robust_accuracy": E(lambda w: F.robust_accuracy(w.model, w.x, w.y, w.eps, steps=w.steps,
                                                     restarts=1, batch_size=w.batch_size),
                         XYE + ("steps", "batch_size")),
    "static_adversarial_set": E(lambda w: F.static_adversarial_set(
        w.model, w.x, w.y, eps=w.eps, batch_size=w.batch_size, generator=w.generator),
        XYE + ("batch_size", "generator"), per_example=True),
    "static_adversarial_training": E(lambda w: F.static_adversarial_training(
        w.model, w.x, w.y, w.x_adv, epochs=1, batch_size=w.batch_size, progress=False),
        XY + ("batch_size",), changes={"params": LOOP, "grad": LOOP}),
    "train_defended": const("trains on the MNIST training set (seconds even at its smallest); its "
                            "RNG contract is tested in test_validate.py"),
    "load_recipe_record": E(lambda w: F.load_recipe_record()),
    "certified_accuracy": E(lambda w: F.certified_accuracy(w.model, w.x, w.y, w.eps), XYE),
    "certify": E(lambda w: F.certify(w.model, w.x, w.y, w.eps, batch_size=w.batch_size),
                 XYE + ("batch_size",), per_example=True),
    "ibp_loss": E(lambda w: F.ibp_loss(w.model, w.x, w.y, w.eps, 0.5)[0], XYE),
    "interval_bounds": E(lambda w: F.interval_bounds(w.model, w.x, w.eps), ("x", "eps"),
                         per_example=True),
    "margin_lower_bounds": E(lambda w: F.margin_lower_bounds(w.model, w.x, w.y, w.eps), XYE,
                             per_example=True),
    "train_ibp": E(lambda w: F.train_ibp(w.model, w.x, w.y, w.eps, epochs=1,
                                         batch_size=w.batch_size), XYE + ("batch_size",),
                   changes={"params": LOOP, "grad": LOOP}),
    "wong_kolter_bounds": E(lambda w: F.wong_kolter_bounds(w.model, w.x, w.eps), ("x", "eps"),
                            per_example=True),
    "worst_case_logits": E(lambda w: F.worst_case_logits(w.model, w.x, w.y, w.eps), XYE,
                           per_example=True),
    "ActivationDetector": E(lambda w: _built(F.ActivationDetector, w.model, layer=2, width=4)(w.x),
                            per_example=True),
    "BPDA": E(lambda w: F.BPDA(F.SparsifyingFrontEnd(k=20))(w.x), per_example=True),
    "Ensemble": E(lambda w: F.Ensemble([w.model, w.other])(w.x), per_example=True),
    "GaussianNoiseDefense": E(lambda w: F.GaussianNoiseDefense(w.model, w.eps)(w.x),
                              {"eps": "sigma"}, changes={
        "rng": "a randomised defense: each call draws fresh noise from torch's global RNG, as "
               "nn.Dropout does, so that EOT attacks see a new sample at every query"}),
    "RejectOrClassify": E(lambda w: _system(w)(w.x), per_example=True),
    "SparsifyingFrontEnd": E(lambda w: F.SparsifyingFrontEnd(k=10 * w.steps)(w.x), {"steps": "k"},
                             per_example=True),
    "dct2": E(lambda w: F.dct2(w.x), per_example=True),
    "detection_report": E(lambda w: F.detection_report(_system(w), w.x, w.y), XY),
    "detector_aware_attack": E(lambda w: F.detector_aware_attack(
        _system(w), w.x, w.y, w.eps, w.eps / 4, w.steps, generator=w.generator),
        XYE + ("steps", "generator")),
    "eot_attack": E(lambda w: F.eot_attack(samples=w.steps)(w.model, w.x, w.y, w.eps, steps=1),
                    {"steps": "samples"}),
    "fit_detector": E(lambda w: F.fit_detector(w.model, w.x, w.y, w.eps, layer=2, steps=1,
                                               epochs=1, progress=False), XYE),
    "format_masking_report": E(lambda w: F.format_masking_report(
        F.gradient_masking_checks(w.model, w.x, w.y, budget()), budget())),
    "gradient_masking_checks": E(lambda w: F.gradient_masking_checks(w.model, w.x, w.y, budget())),
    "idct2": E(lambda w: F.idct2(F.dct2(w.x)), per_example=True),
    "naive_vs_adaptive": E(lambda w: F.naive_vs_adaptive(w.model, w.x, w.y, w.eps), XYE),
    "pgd_attack": E(lambda w: F.pgd_attack(w.model, w.x, w.y, w.eps, steps=w.steps,
                                           generator=w.generator), XYE + ("steps", "generator")),
    "interval_step": E(lambda w: F.interval_step(w.other[1], w.x.flatten(1) - 0.1,
                                                 w.x.flatten(1) + 0.1), per_example=True),
    "smoothing_radius_bound": E(lambda w: F.smoothing_radius_bound(0.25, 25 * w.n), ("n",)),
    "sparsified_classifier": E(lambda w: F.sparsified_classifier(w.model, k=10 * w.steps)(w.x),
                               {"steps": "k"}, per_example=True),
    "train_detector": E(lambda w: F.train_detector(
        _built(F.ActivationDetector, w.model, layer=2, width=4), w.x, w.x_adv, epochs=1,
        batch_size=w.batch_size, progress=False), {"x": "x", "batch_size": "batch_size"},
        changes={"params": "its documented job: trains the detector's head (the classifier's "
                           "layers it shares stay as they were)"}),
    "with_test_time_dropout": E(lambda w: F.with_test_time_dropout(w.model, w.eps), {"eps": "p"}),
    "AttackBudget": E(lambda w: F.AttackBudget(eps=w.eps, pgd_steps=w.steps), ("eps",)),
    "Defense": E(_fake_defended),
    "defense_table": E(lambda w: F.defense_table([_fake_defended(w)], w.x, w.y, budget=budget())),
    "evaluate_defense": E(_row, XY, empty=(
        "defenses/scoreboard.py (edited in another branch) divides by the batch size: an "
        "empty batch gives ZeroDivisionError")),
    "format_table": E(lambda w: F.format_table(F.defense_table([_fake_defended(w)], w.x, w.y,
                                                               budget=budget()), budget())),
    "masking_checklist": E(lambda w: F.masking_checklist(_row(w))),
}, "data": {
    "MNIST": E(lambda w: Dt.MNIST(w.split).tensors(2), ("split",)),
    "MNISTM": E(lambda w: Dt.MNISTM(w.split).tensors(2), ("split",)),
    "mnist": E(lambda w: Dt.mnist(w.split).tensors(2), ("split",)),
    "mnist_m": E(lambda w: Dt.mnist_m(w.split).tensors(2), ("split",)),
}, "models": {
    "ARCHITECTURES": const(),
    "MnistCNN": E(lambda w: _built(Mo.MnistCNN, c1=2, c2=2, hidden=4)(w.x), per_example=True),
    "MnistMLP": E(lambda w: _built(Mo.MnistMLP, hidden=4)(w.x), per_example=True),
    "Normalize": E(lambda w: Mo.Normalize(std=w.eps)(w.x), {"eps": "std"}, per_example=True),
    "build": E(lambda w: Mo.build(w.arch), ("arch",), changes={"rng": NN_INIT}),
    "available": E(lambda w: Mo.available()),
    "load_checkpoint": E(lambda w: _checkpoint_roundtrip(w)),
    "load_pretrained": E(lambda w: Mo.load_pretrained(w.arch)(w.x), {"arch": "name"}),
    "save_checkpoint": E(lambda w: _checkpoint_roundtrip(w, load=False)),
}}


def _enter(context, w, flip: str):
    """Run a block inside ``context`` that itself changes what the context manages (``flip``:
    "modes" or "flags") on the world's modules: on the way out all must be as the caller had it."""
    with context:
        for m in (w.model, w.D):
            if flip == "modes":
                m.train()
                m[1].eval() if m is w.model else m.eval()
            else:
                m.requires_grad_(True)


TABLE.update({"train": {
    "EVAL_BATCH": const(),
    "accuracy": E(lambda w: T.accuracy(w.model, w.x, w.y, batch_size=w.batch_size),
                  ("x:nan:3d", "y", "batch_size")),
    "predict": E(lambda w: T.predict(w.model, w.x, batch_size=w.batch_size), ("batch_size",),
                 per_example=True),
    "batches": E(lambda w: list(T.batches(w.n, w.batch_size, shuffle=True, generator=w.generator)),
                 ("n", "batch_size", "generator")),
    "random_shift": E(lambda w: T.random_shift(w.x, w.generator), {"x": ("x", ["3d"]), "generator": "g"}),
    "train_classifier": E(lambda w: T.train_classifier(w.model, w.x, w.y, epochs=1,
                                                       batch_size=w.batch_size, progress=False),
                          ("x:nan:3d", "y", "batch_size"), changes={"params": LOOP, "grad": LOOP}),
}, "modes": {
    "eval_mode": E(lambda w: _enter(Md.eval_mode(w.model, w.D), w, "modes")),
    "train_mode": E(lambda w: _enter(Md.train_mode(w.model, w.D), w, "modes")),
    "frozen": E(lambda w: _enter(Md.frozen(w.model, w.D), w, "flags")),
}})


def _checkpoint_roundtrip(w, load=True):
    import tempfile
    from pathlib import Path
    net = _built(Mo.MnistMLP, hidden=4)
    with tempfile.TemporaryDirectory() as tmp:
        Mo.save_checkpoint(net, "mnist-mlp", {"hidden": 4}, Path(tmp) / "m.pt")
        return Mo.load_checkpoint(Path(tmp) / "m.pt") if load else None


def public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    return list(names) if names is not None else [n for n in vars(module) if not n.startswith("_")]


ENTRIES = [(m, n) for m, table in TABLE.items() for n in table]
RUN = [(m, n) for m, n in ENTRIES if TABLE[m][n].run is not None]


def test_every_public_name_has_an_entry():
    for mod_name, module in MODULES.items():
        names = set(public_names(module))
        missing = sorted(names - set(TABLE[mod_name]))
        stale = sorted(set(TABLE[mod_name]) - names)
        assert not missing, (f"coursekit.{mod_name} exports {missing} without a contract entry: "
                             f"add one to TABLE in tests/test_contracts.py")
        assert not stale, f"TABLE lists {stale}, which coursekit.{mod_name} no longer exports"


def test_every_callable_is_run_or_says_why_not():
    for mod_name, name in ENTRIES:
        entry, obj = TABLE[mod_name][name], getattr(MODULES[mod_name], name)
        if entry.run is None:
            assert entry.why_not_run and (not callable(obj) or "train" in name), (mod_name, name)


def test_every_allowed_change_is_documented():
    """A function allowed to change the caller's world says so in its docstring."""
    words = {"params": ("train", "step", "updat", "optimi"), "modes": ("eval mode", "eval()"),
             "grad": ("train", "step", "optimi"), "rng": ()}
    silent = []
    for mod_name, name in RUN:
        if f"{mod_name}.{name}" in UNDOCUMENTED:
            continue
        doc = (inspect.getdoc(getattr(MODULES[mod_name], name)) or "").lower()
        silent += [f"{mod_name}.{name} ({point})" for point in TABLE[mod_name][name].changes
                   if words[point] and not any(w in doc for w in words[point])]
    assert not silent, f"allowed to change the caller's world, undocumented: {silent}"
    for qualname, points in UNDOCUMENTED.items():    # drop an entry once its docstring says it
        mod_name, name = qualname.split(".")
        doc = (inspect.getdoc(getattr(MODULES[mod_name], name)) or "").lower()
        assert not all(any(w in doc for w in words[p]) for p in points), \
            f"{qualname}'s docstring now documents {points}: remove it from UNDOCUMENTED"


# Allowed changes whose docstring does not say so yet (none today; the test below fails when an
# entry's docstring starts to say it, so that the entry is removed).
UNDOCUMENTED: dict[str, tuple] = {}


# ------------------------------------------------------------------ 2. the caller's world
def _modules(w):
    return {k: v for k, v in vars(w).items() if isinstance(v, nn.Module)}


def _tensors(w):
    return {k: v.clone() for k, v in vars(w).items() if isinstance(v, torch.Tensor)}


@pytest.mark.parametrize("mod_name, name", RUN, ids=[f"{m}.{n}" for m, n in RUN])
def test_the_callers_world_is_left_as_it_was(mod_name, name):
    entry, w = TABLE[mod_name][name], make_world()
    tensors, modules = _tensors(w), {k: snapshot_model(m) for k, m in _modules(w).items()}
    flags = {k: requires_grad_flags(m) for k, m in _modules(w).items()}
    torch.manual_seed(1234)
    rng = global_states()
    entry.run(w)
    for k, before in tensors.items():
        assert torch.equal(before, getattr(w, k)), f"{name} changed its input {k}"
    for k, (state, modes, grads) in modules.items():
        new_state, new_modes, new_grads = snapshot_model(getattr(w, k))
        if "params" not in entry.changes:
            for key in state:
                assert torch.equal(state[key], new_state[key]), f"{name} changed {k}'s {key}"
        if "modes" not in entry.changes:
            assert modes == new_modes, f"{name} changed {k}'s train/eval modes"
        if "grad" not in entry.changes:
            assert all(g is None for g in new_grads), f"{name} filled {k}'s .grad"
        assert requires_grad_flags(getattr(w, k)) == flags[k], \
            f"{name} changed {k}'s requires_grad flags"
    if "rng" not in entry.changes:
        assert same_states(rng, global_states()), f"{name} changed the global random state"


# ------------------------------------------------------------------ 1. bad arguments
def _nan(x):
    x = x.clone()
    x[0, 0, 0, 0] = float("nan")
    return x


BAD = {
    "x": [("nan", _nan), ("3d", lambda x: x[:, 0]), ("above-1", lambda x: x * 255)],
    "y": [("10", lambda y: torch.full_like(y, 10)), ("-1", lambda y: torch.full_like(y, -1)),
          ("float", lambda y: y.float()), ("short", lambda y: y[:-1])],
    "eps": [("negative", lambda e: -e), ("nan", lambda e: math.nan)],
    "steps": [("zero", lambda s: 0), ("negative", lambda s: -1)],
    "batch_size": [("zero", lambda b: 0)],
    "n": [("negative", lambda n: -1), ("float", lambda n: 2.5)],
    "generator": [("int", lambda g: 0)],
    "feats_a": [("nan", lambda f: f.clone().fill_(math.nan)), ("1d", lambda f: f[:, 0])],
    "probs": [("nan", lambda p: p.clone().fill_(math.nan)), ("negative", lambda p: -p)],
    "split": [("unknown", lambda s: "validation")],
    "arch": [("unknown", lambda s: "no-such-model")],
}
BAD_CASES = [(m, n, field, case) for m, n in RUN for field, (_, only) in TABLE[m][n].bad.items()
             for case, _ in BAD[field] if not only or case in only]


@pytest.mark.parametrize("mod_name, name, field, case", BAD_CASES,
                         ids=[f"{m}.{n}-{f}-{c}" for m, n, f, c in BAD_CASES])
def test_bad_arguments_are_named(mod_name, name, field, case):
    entry, w = TABLE[mod_name][name], make_world()
    setattr(w, field, dict(BAD[field])[case](getattr(w, field)))
    arg = entry.bad[field][0]
    with pytest.raises((ValueError, TypeError)) as err:
        entry.run(w)
    assert arg in str(err.value), f"{name}: the error for a bad {arg} does not name it: {err.value}"


EMPTY = [(m, n) for m, n in RUN if "x" in TABLE[m][n].bad and TABLE[m][n].empty is True]


@pytest.mark.parametrize("mod_name, name", EMPTY, ids=[f"{m}.{n}" for m, n in EMPTY])
def test_an_empty_batch_is_refused_by_name_or_gives_an_empty_result(mod_name, name):
    entry, w = TABLE[mod_name][name], make_world()
    w.x, w.y, w.x_adv, w.n = w.x[:0], w.y[:0], w.x_adv[:0], 0
    try:
        entry.run(w)
    except (ValueError, TypeError) as err:
        assert entry.bad["x"][0] in str(err) or "y" in str(err).split()[0], \
            f"{name}: an empty batch gives an error that names no argument: {err}"


# ------------------------------------------------------------------ 3. batch equals single
PER_EXAMPLE = [(m, n) for m, n in RUN if TABLE[m][n].per_example]


def _first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("mod_name, name", PER_EXAMPLE, ids=[f"{m}.{n}" for m, n in PER_EXAMPLE])
def test_batch_equals_single(mod_name, name):
    entry = TABLE[mod_name][name]
    w = make_world()
    for m in _modules(w).values():
        m.eval()
    batch = _first(entry.run(w))
    singles = []
    for i in range(N):
        wi = make_world()
        for m in _modules(wi).values():
            m.eval()
        for k in ("x", "y", "x_adv", "z", "points"):
            setattr(wi, k, getattr(w, k)[i:i + 1])
        wi.n = 1
        singles.append(_first(entry.run(wi)))
    torch.testing.assert_close(torch.cat(singles), batch, atol=1e-6, rtol=1e-5)
