"""The loss zoo's experiment: one run of a loss (or a tip) from one seed on the ring or on
MNIST, :func:`digit_coverage` (MNIST's counterpart of the ring's mode metrics), and
:func:`run_zoo`, every run of the plan, resumable from its results file.

Neighbours in ``coursekit/gan/zoo/``: the settings are in ``settings.py``, the summaries and tables in
``tables.py``, the results file in ``store.py``, the command line in ``cli.py``.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ...config import one_thread_pool, threads
from ..losses import LOSSES
from ..nets import DCGANDiscriminator, DCGANGenerator
from ..toys import train_ring
from ..trainer import train_gan
from .settings import (EXTRA, EXTRA_PROBLEMS, FULL, RING_SETTING, TIP_BASE, TIP_PROBLEMS, TIPS,
                       ZooConfig, tip_settings)
from .store import COMMAND, _encode, _write
from .tables import summarise


# --- one run --------------------------------------------------------------------------------

def digit_coverage(probs: torch.Tensor, min_share: float = 0.01, confidence: float = 0.9) -> dict:
    """MNIST's counterpart of the ring's mode metrics, from classifier probabilities (N, 10).

    A sample is *confident* when the classifier gives its top digit at least ``confidence``
    (the counterpart of "within 3σ of a mode"); a digit is *covered* when at least
    ``min_share`` of all samples are confident ones of that digit (as on the ring). The
    classifier also labels some garbage confidently, so read it next to FID.
    """
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probs must have shape (N, classes) with N >= 1, got {tuple(probs.shape)}")
    top, label = probs.max(dim=1)
    good = top >= confidence
    counts = torch.bincount(label[good], minlength=probs.shape[1])
    return {"digits_covered": int((counts >= min_share * len(probs)).sum()),
            "confident": good.float().mean().item()}


def _history_numbers(history: dict, steps: int) -> dict:
    """How hard G was pushed early on, and where D's logits ended (mean of the last 100 steps)."""
    early = history["g_grad_norm"][: max(1, steps // 10)]
    return {"g_grad_norm_early": round(statistics.fmean(early), 6),
            "d_real_logit_last": round(statistics.fmean(history["d_real"][-100:]), 4),
            "d_fake_logit_last": round(statistics.fmean(history["d_fake"][-100:]), 4)}


def run_ring(loss: str, seed: int, steps: int, **overrides) -> tuple[dict, torch.Tensor]:
    """Train ``loss`` on the ring from ``seed`` (``overrides`` go to :func:`train_gan`);
    return its row and 500 of G's samples."""
    start = time.perf_counter()
    kwargs = {**RING_SETTING, "k": LOSSES[loss].preset.get("k", 1), **overrides}
    G, _, history, m = train_ring(steps=steps, seed=seed, loss=loss, **kwargs)
    row = {"seed": seed, "modes_covered": m["modes_covered"], "high_quality": round(m["high_quality"], 4),
           **_history_numbers(history, steps), "seconds": round(time.perf_counter() - start, 1)}
    return row, G.sample(500, seed=seed + 200)


def mnist_features(x_test: torch.Tensor) -> torch.Tensor:
    """MNIST features of the real test digits (the FID reference)."""
    from ...metrics import extract_features
    return extract_features(x_test, progress=False).features


def run_mnist(loss: str, seed: int, config: ZooConfig, x_train: torch.Tensor, real_features: torch.Tensor,
              progress: bool = False, **overrides) -> tuple[dict, torch.Tensor]:
    """Train ``loss`` on MNIST from ``seed`` with the DCGAN of ``config``; ``overrides`` go to
    :func:`train_gan` (``norm`` to the generator, ``d_norm`` to the discriminator). Returns the
    row and 8 samples of G."""
    from ...metrics import extract_features, frechet_distance

    overrides = dict(overrides)
    norm, d_norm = overrides.pop("norm", "batch"), overrides.pop("d_norm", "batch")

    def evaluate(G, n, sample_seed):
        fake = extract_features(G.sample(n, seed=sample_seed), progress=False)
        return frechet_distance(real_features, fake.features), fake.probs

    start = time.perf_counter()
    with threads(1), torch.random.fork_rng():   # seeded here, the caller's RNG untouched
        torch.manual_seed(seed)
        G = DCGANGenerator(latent_dim=config.latent_dim, ngf=config.ngf, norm=norm)
        D = DCGANDiscriminator(ndf=config.ngf, norm=d_norm)
        history = train_gan(
            G, D, lambda n, g: x_train[torch.randint(len(x_train), (n,), generator=g)], loss=loss,
            steps=config.mnist_steps, batch_size=config.mnist_batch, seed=seed, progress=progress,
            eval_fn=lambda G: {"fid": evaluate(G, min(2000, config.n_eval), seed + 300)[0]},
            eval_every=max(1, config.mnist_steps // config.n_curve), **overrides)
        seconds = time.perf_counter() - start
        fid, probs = evaluate(G, config.n_eval, seed + 100)
    row = {"seed": seed, "fid": round(fid, 3), **_rounded(digit_coverage(probs)),
           "fid_curve": [[e["step"], round(e["fid"], 2)] for e in history["evals"]],
           **_history_numbers(history, config.mnist_steps), "seconds": round(seconds, 1)}
    return row, G.sample(8, seed=seed + 400)


def _rounded(d: dict, digits: int = 4) -> dict:
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in d.items()}


def mnist_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST runs' inputs: the training digits and the FID reference (test-digit features)."""
    from ...data import mnist
    return mnist("train").tensors()[0], mnist_features(mnist("test").tensors()[0])


def run_one(task: tuple, config: ZooConfig, data: tuple | None = None) -> tuple[dict, torch.Tensor]:
    """Run ``task`` = (part, problem, name, seed) of :func:`plan`; ``data`` is
    :func:`mnist_inputs` (loaded here when None). Seeded by the task alone, so its row does not
    depend on which process runs it, or after what."""
    part, problem, name, seed = task
    loss, settings = (TIP_BASE, tip_settings(name, problem)) if part == "tips" else EXTRA.get(name, (name, {}))
    if problem == "ring":
        return run_ring(loss, seed, config.ring_steps, **settings)
    x_train, real_features = data if data is not None else mnist_inputs()
    return run_mnist(loss, seed, config, x_train, real_features, **settings)


# --- the whole experiment -------------------------------------------------------------------

def plan(config: ZooConfig, losses=tuple(LOSSES), tips=tuple(TIPS), problems=("ring", "mnist"),
         extra=tuple(EXTRA)) -> list:
    """Every run as (part, problem, name, seed): the ring first (minutes), then MNIST."""
    runs = []
    for problem in problems:
        runs += [("losses", problem, loss, seed) for loss in losses for seed in config.seeds]
        runs += [("losses", problem, name, seed) for name in extra if problem in EXTRA_PROBLEMS[name]
                 for seed in config.seeds]
        runs += [("tips", problem, tip, seed) for tip in tips if problem in TIP_PROBLEMS[tip]
                 for seed in config.seeds]
    return runs


def run_zoo(config: ZooConfig = FULL, losses: tuple[str, ...] = tuple(LOSSES), tips: tuple[str, ...] = tuple(TIPS),
            problems: tuple[str, ...] = ("ring", "mnist"), out: Path | None = None,
            progress: bool = True, extra: tuple[str, ...] = tuple(EXTRA), workers: int = 1) -> dict:
    """Train every loss (and the ``extra`` rows) and every tip on every problem from every seed
    of ``config``.

    With ``out`` the results are written after every run, and a run already in that file with
    the same config is not repeated (a long job on a shared machine can be resumed, and rows
    added later are computed alone). ``workers`` > 1 runs that many runs at once in one-thread
    processes (:func:`coursekit.config.one_thread_pool`); the rows are the same, stored in the
    same order, as one process would store them.
    """
    from tqdm.auto import tqdm

    bad = ([n for n in losses if n not in LOSSES] + [n for n in tips if n not in TIPS]
           + [n for n in extra if n not in EXTRA])
    if bad:
        raise ValueError(f"losses must come from {list(LOSSES)}, tips from {list(TIPS)} and extra rows "
                         f"from {list(EXTRA)}, got {bad}")
    results = {"command": COMMAND, "config": asdict(config), "complete": False, "wall_seconds": 0.0,
               "machine": {"torch": torch.__version__, "python": platform.python_version(),
                           "cpu_count": os.cpu_count(), "torch_threads": 1, "processes": workers},
               "ring_setting": RING_SETTING,
               "presets": {loss: LOSSES[loss].preset for loss in losses},
               "tip_settings": {tip: {p: tip_settings(tip, p) for p in TIP_PROBLEMS[tip]} for tip in tips},
               "extra_settings": {name: {"loss": EXTRA[name][0], **EXTRA[name][1]} for name in extra},
               "losses": {p: {} for p in problems}, "tips": {p: {} for p in problems},
               "samples": {p: {} for p in problems}}
    results = json.loads(json.dumps(results))  # tuples as lists, as they come back from a file
    if out is not None and Path(out).is_file():
        saved = json.loads(Path(out).read_text())
        if saved.get("config") == results["config"]:  # same budget: keep its runs, add what is missing
            for key in ("presets", "tip_settings", "extra_settings"):
                saved[key] = {**saved.get(key, {}), **results[key]}
            results = {**saved, "complete": False}
    start = time.perf_counter() - results["wall_seconds"]
    todo = [(part, problem, name, seed) for part, problem, name, seed in plan(config, losses, tips, problems, extra)
            if seed not in [r["seed"] for r in results[part].setdefault(problem, {}).get(name, [])]]
    pool = one_thread_pool(workers)
    data = None if pool is not None or "mnist" not in problems else mnist_inputs()
    try:
        runs = (pool.map(run_one, todo, [config] * len(todo)) if pool is not None  # in the plan's order
                else (run_one(task, config, data) for task in todo))
        for (part, problem, name, seed), (row, samples) in tqdm(zip(todo, runs), total=len(todo),
                                                                desc="loss zoo and tips", disable=not progress):
            results[part][problem].setdefault(name, []).append(row)
            if part == "losses" and seed == config.seeds[0]:
                results["samples"].setdefault(problem, {})[name] = _encode(samples, "points" if problem == "ring" else "images")
            results["wall_seconds"] = round(time.perf_counter() - start, 1)
            if out is not None:
                _write(results, out)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    results["summary"] = {part: summarise(results[part]) for part in ("losses", "tips")}
    results["complete"] = True
    results["wall_seconds"] = round(time.perf_counter() - start, 1)
    if out is not None:
        _write(results, out)
    return results
