"""Notebook 01's experiments at full size, stored with the command that made them.

Each experiment of notebook 01 is one function; the notebook calls the same functions on a
few digits, live, and reads the full-size results from ``data/results/attacks_survey.json``:

    python -m coursekit.attacks.survey          # every experiment at full size (about 20 min CPU)
    python -m coursekit.attacks.survey --quick  # the same on a few digits, printed only

The run is resumable: an experiment already in the file with the same settings is not
repeated. On a machine with cores to spare, groups of experiments can run in parallel
processes (``--only NAME ... --out part1.json`` each), then ``--merge part1.json part2.json``
collects them into the results file. The file records the command, the library versions,
the machine and the seconds each experiment took, and every figure the notebook states about
the full-size run.

Every experiment reports **a control**: the same models under random noise of the same size
(each pixel moved by ±ε with a random sign, clipped to [0, 1]) or a random transformation.
An attack only shows something about *adversarial* directions where it beats its control.

The package, one job per file:

    experiment.py  the experiments, one function each, and their controls (what notebook 01 calls)
    settings.py    the sizes of the full and quick runs (:class:`SurveyConfig`, :data:`FULL`,
                   :data:`QUICK`) and the settings each stored experiment depends on
    run.py         the full run: :func:`experiments` binds each one to its settings,
                   :func:`run_survey` runs them on one thread, resumably
    store.py       the results file: where it is, writing, merging parallel runs, loading
    cli.py         the command line (``__main__.py`` runs it)

Every name is re-exported here: ``survey.accuracy_curves``, ``survey.load_results`` and the
rest work as they did when the survey was one module.
"""
from .cli import main
from .experiment import (GradientCounter, accuracy_curves, accuracy_mask, accuracy_of, class_shares,
                         consistent, deepfool_and_cw, eot_experiment, jsma_success, patch_experiment,
                         pgd_alpha, query_attacks, random_sign_noise, restarts_gain, spatial_experiment,
                         targeted_vs_untargeted, transfer_experiment, universal_experiment)
from .run import experiments, run_survey
from .settings import FULL, MODELS, QUICK, SETTINGS, SurveyConfig
from .store import COMMAND, default_path, load_results, merge_results, write_results

__all__ = [
    "GradientCounter", "accuracy_curves", "accuracy_mask", "accuracy_of", "class_shares", "consistent",
    "deepfool_and_cw", "eot_experiment", "jsma_success", "patch_experiment", "pgd_alpha", "query_attacks",
    "random_sign_noise", "restarts_gain", "spatial_experiment", "targeted_vs_untargeted",
    "transfer_experiment", "universal_experiment",
    "FULL", "MODELS", "QUICK", "SETTINGS", "SurveyConfig",
    "experiments", "run_survey",
    "COMMAND", "default_path", "load_results", "merge_results", "write_results",
    "main",
]
