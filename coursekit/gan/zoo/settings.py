"""The loss zoo's settings: the budget every loss gets (:class:`ZooConfig`; :data:`FULL` for the
stored results, :data:`QUICK` for a check in about a minute), the ring's optimiser setting, the
training tips as one change each to the non-saturating baseline, and the extra rows.

Neighbours in ``coursekit/gan/zoo/``: the runs that use these settings are in ``experiment.py``; the
package docstring (``__init__.py``) describes the whole experiment.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..losses import LOSSES
from ..toys import RING_SETTING as RING_TRAINING

# The optimiser part of the ring's training setting (as stored in the results file).
RING_SETTING = {key: RING_TRAINING[key] for key in ("optimizer", "lr_d", "lr_g", "betas")}

# Each tip changes one thing in the non-saturating baseline ("lr_scale": D's and G's learning
# rates multiplied by these factors). Virtual batch norm only applies to MNIST: the ring's MLPs
# have no batch norm to replace.
TIP_BASE = "non-saturating"
TIPS = {
    "k=5": {"k": 5},                             # Goodfellow et al. 2014, Algorithm 1
    "ttur": {"lr_scale": (2.0, 0.5)},            # Heusel et al. 2017: D faster than G
    "label-smoothing": {"real_label": 0.9},      # Salimans et al. 2016, §3.4
    "virtual-bn": {"norm": "virtual"},           # Salimans et al. 2016, §3.5
}
TIP_PROBLEMS = {"k=5": ("ring", "mnist"), "ttur": ("ring", "mnist"),
                "label-smoothing": ("ring", "mnist"), "virtual-bn": ("mnist",)}

# Beyond the seven shared-network rows: WGAN-GP as its paper prescribes it, with no batch norm in
# the critic (Gulrajani et al. 2017, §4; with batch norm the penalty on ∇D(x) is ill-posed).
# MNIST only: the ring's MLP critic has no batch norm anyway.
EXTRA = {"wgan-gp, no BN in D": ("wgan-gp", {"d_norm": "none"})}
EXTRA_PROBLEMS = {"wgan-gp, no BN in D": ("mnist",)}


@dataclass(frozen=True)
class ZooConfig:
    """The budget: the same for every loss."""

    seeds: tuple[int, ...] = (0, 1, 2)
    ring_steps: int = 2000      # generator steps on the ring (batch 256)
    mnist_steps: int = 3000     # generator steps on MNIST
    mnist_batch: int = 64
    ngf: int = 16               # width of the DCGAN G; D uses ndf = ngf
    latent_dim: int = 64
    n_eval: int = 5000          # MNIST samples for FID and digit coverage
    n_curve: int = 6            # FID measurements along each MNIST run (2,000 samples each)


FULL = ZooConfig()
QUICK = ZooConfig(seeds=(0,), ring_steps=100, mnist_steps=20, n_eval=500, n_curve=2)


def tip_settings(tip: str, problem: str) -> dict:
    """The :func:`train_gan` arguments (and ``norm``) that tip ``tip`` changes on ``problem``."""
    if tip not in TIPS or problem not in TIP_PROBLEMS[tip]:
        raise ValueError(f"tip must be one of {sorted(TIPS)} on a problem it applies to, "
                         f"got {tip!r} on {problem!r}")
    settings = dict(TIPS[tip])
    if "lr_scale" in settings:
        base = RING_SETTING if problem == "ring" else LOSSES[TIP_BASE].preset
        scale_d, scale_g = settings.pop("lr_scale")
        settings.update(lr_d=base["lr_d"] * scale_d, lr_g=base["lr_g"] * scale_g)
    return settings
