"""The loss zoo in miniature: "Are GANs Created Equal?" (Lucic et al. 2018) on the ring and MNIST.

Every loss in :data:`coursekit.gan.losses.LOSSES` trains the same networks for the same number
of generator steps, from several seeds, on two problems:

* **ring**: the ring of 8 Gaussians (σ = 0.05) of notebook 04, with its MLP G and D, judged by
  modes covered and the share of high-quality samples (:func:`coursekit.gan.toys.mode_metrics`).
  Every loss uses the ring's optimiser setting (:data:`RING_SETTING`, the setting of notebook
  04's ring: Adam 10⁻³, β = (0.5, 0.9)) and keeps its own n_critic, clip and penalty.
  At the papers' image-sized learning rates no loss learns this ring within the budget.
* **mnist**: a small DCGAN (ngf = ndf = 16), each loss with its paper's preset (optimiser,
  learning rates, β, n_critic; :class:`coursekit.gan.losses.GANLoss`), judged by FID on
  MNIST features (``n_eval`` samples against the 10,000 test digits) and by
  :func:`digit_coverage`.

The same command measures the lecture's training tips (:data:`TIPS`) as controlled
comparisons: the non-saturating loss with one thing changed (k = 5 discriminator steps,
D's learning rate doubled and G's halved, one-sided label smoothing, virtual batch norm in G),
same networks, seeds and budget; its baseline is the zoo's non-saturating row.

Lucic et al. gave every loss a hyperparameter search and found that none consistently beats
the non-saturating loss once tuned; this is the untuned version: one setting per loss and a
few seeds. The results, with the command and the wall time, are stored in
``data/results/gan_zoo.json`` and read by notebook 05 through :func:`load_results`:

    python -m coursekit.gan.zoo              # full: 3 seeds per loss -> data/results/gan_zoo.json
    python -m coursekit.gan.zoo --quick      # a reduced version in about a minute, printed only

Standard deviations are over seeds, with Bessel's correction (n − 1 in the denominator).

The package, one job per file:

    settings.py    the budget (:class:`ZooConfig`, :data:`FULL`, :data:`QUICK`), the ring's
                   optimiser setting, the tips and the extra rows
    experiment.py  one run on the ring or MNIST, :func:`digit_coverage`, the whole experiment
    tables.py      mean ± std over seeds, Welch's comparison with the baseline, the markdown tables
    store.py       the results file: where it is, writing, loading, samples as text
    cli.py         the command line (``__main__.py`` runs it)

Every name is re-exported here: ``zoo.run_zoo``, ``zoo.load_results`` and the rest work as before.
"""
from .cli import main
from .experiment import digit_coverage, mnist_features, plan, run_mnist, run_ring, run_zoo
from .settings import (EXTRA, EXTRA_PROBLEMS, FULL, QUICK, RING_SETTING, TIP_BASE, TIP_PROBLEMS, TIPS,
                       ZooConfig, tip_settings)
from .store import COMMAND, decode_samples, default_path, load_results
from .tables import LOWER_IS_BETTER, METRICS, compare, format_table, mean_std, summarise

__all__ = [
    "EXTRA", "EXTRA_PROBLEMS", "FULL", "QUICK", "RING_SETTING", "TIP_BASE", "TIP_PROBLEMS", "TIPS",
    "ZooConfig", "tip_settings",
    "digit_coverage", "mnist_features", "plan", "run_mnist", "run_ring", "run_zoo",
    "LOWER_IS_BETTER", "METRICS", "compare", "format_table", "mean_std", "summarise",
    "COMMAND", "decode_samples", "default_path", "load_results",
    "main",
]
