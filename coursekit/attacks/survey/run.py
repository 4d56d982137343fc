"""The survey's full run: every experiment of notebook 01 at the sizes of a
:class:`~coursekit.attacks.survey.settings.SurveyConfig`, on one thread, resumable.

:func:`experiments` names each experiment and binds it to its settings, models and digits;
:func:`run_survey` runs those that the results file does not hold yet and writes the file
after each one, with its wall and CPU seconds.

Neighbours in ``coursekit/attacks/survey/``: the experiments themselves are in
``experiment.py``, the settings in ``settings.py``, the results file in ``store.py``.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ...config import threads
from ..gradient import fgsm
from .experiment import (accuracy_curves, accuracy_of, class_shares, deepfool_and_cw, eot_experiment,
                         jsma_success, patch_experiment, query_attacks, random_sign_noise, restarts_gain,
                         spatial_experiment, targeted_vs_untargeted, transfer_experiment, universal_experiment)
from .settings import FULL, MODELS, SETTINGS, SurveyConfig
from .store import COMMAND, write_results


def experiments(cfg: SurveyConfig, models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor) -> dict:
    """name → a function that runs that experiment (the keys of the stored file)."""
    cnn, lenet = models["mnist-cnn"], models["mnist-lenet"]

    def first(n):
        return x[:n], y[:n]

    def noise_classes():
        xs, ys = first(cfg.n_classes)
        g = torch.Generator().manual_seed(0)
        return {name: {"n": len(xs), "clean": accuracy_of(m, xs, ys),
                       **{kind: {"accuracy": accuracy_of(m, xa, ys), "class_shares": class_shares(m, xa)}
                          for kind, xa in (("FGSM", fgsm(m, xs, ys, 0.25)), ("noise", random_sign_noise(xs, 0.25, g)),
                                           ("brighter", (xs + 0.25).clamp(0, 1)))}}
                for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))}

    return {
        "classes_at_0.25": noise_classes,
        "curves": lambda: {name: accuracy_curves(m, *first(cfg.n_curve), cfg.eps_grid, cfg.steps)
                           for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))},
        "targeted": lambda: {name: targeted_vs_untargeted(m, *first(cfg.n_targeted), cfg.targeted_eps, cfg.steps)
                             for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))},
        "restarts": lambda: {name: restarts_gain(m, *first(cfg.n_restarts))
                             for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))},
        "deepfool_cw": lambda: {"mnist-cnn": deepfool_and_cw(cnn, *first(cfg.n_deepfool), cfg.n_cw, cfg.cw_steps,
                                                             cfg.cw_search),
                                "mnist-lenet": deepfool_and_cw(lenet, *first(cfg.n_deepfool), 0)},
        "jsma": lambda: jsma_success(cnn, *first(cfg.n_jsma)),
        "query": lambda: {f"mnist-lenet ε={eps}": query_attacks(lenet, *first(cfg.n_query), eps, cfg.query_budgets,
                                                                 n_fd=cfg.n_fd)
                          for eps in (0.1, 0.2)},
        "transfer": lambda: {str(eps): transfer_experiment(models, *first(cfg.n_transfer), eps, cfg.steps)
                             for eps in cfg.transfer_eps},
        "universal": lambda: {f"{name} ξ={xi}": universal_experiment(m, x[:cfg.n_universal_fit],
                                                                      x[5_000:5_000 + cfg.n_universal_new], xi,
                                                                      cfg.universal_passes)
                              for name, m, xi in (("mnist-lenet", lenet, 0.2), ("mnist-mlp", models["mnist-mlp"], 0.2))},
        "spatial": lambda: {name: spatial_experiment(m, *first(cfg.n_spatial))
                            for name, m in (("mnist-cnn", cnn), ("mnist-lenet", lenet))},
        "eot": lambda: {name: eot_experiment(m, *first(cfg.n_eot), eps)
                        for name, m, eps in (("mnist-cnn", cnn, 0.05), ("mnist-lenet", lenet, 0.1))},
        "patch": lambda: patch_experiment(cnn, x[5_000:7_000], *first(cfg.n_patch_eval), steps=cfg.patch_steps),
    }


def run_survey(cfg: SurveyConfig = FULL, out: Path | None = None, only: list[str] | None = None) -> dict:
    """Run every experiment of ``cfg`` on one thread, skipping those that ``out`` already holds
    with the same settings (``only``: run just these, again); write ``out`` after each one."""
    from ...data import mnist
    from ...models import load_pretrained
    results = json.loads(out.read_text()) if out is not None and out.exists() else {}
    config = _jsonable(asdict(cfg))
    old = results.get("config", {})
    for name in list(results.get("experiments", {})):          # keep what was run with these settings
        if any(old.get(k) != config[k] for k in SETTINGS[name]):
            for part in ("experiments", "seconds", "cpu_seconds"):
                results.get(part, {}).pop(name, None)
    results.update(command=COMMAND, config=config,
                   versions={"torch": torch.__version__, "python": platform.python_version()},
                   machine={"cpu_count": os.cpu_count(), "torch_threads": 1})
    results.setdefault("experiments", {})
    results.setdefault("seconds", {})
    with threads(1):
        models = {name: load_pretrained(name) for name in MODELS}
        x, y = mnist("test").tensors()
        for name, run in experiments(cfg, models, x, y).items():
            if (only and name not in only) or (not only and name in results["experiments"]):
                continue
            start, cpu = time.perf_counter(), time.process_time()
            torch.manual_seed(0)
            results["experiments"][name] = run()
            results["seconds"][name] = round(time.perf_counter() - start, 1)
            results.setdefault("cpu_seconds", {})[name] = round(time.process_time() - cpu, 1)
            print(f"{name}: {results['seconds'][name]:.0f} s", flush=True)
            results["wall_seconds"] = round(sum(results["seconds"].values()), 1)
            results["cpu_seconds_total"] = round(sum(results["cpu_seconds"].values()), 1)
            results["complete"] = set(results["experiments"]) == set(SETTINGS)
            if out is not None:
                write_results(results, out)
    return results


def _jsonable(value):
    return json.loads(json.dumps(value))
