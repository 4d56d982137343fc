"""The defenses' figures (coursekit.defenses.plots)."""
import pytest


def test_plot_history_draws_three_curves_per_run_and_refuses_bare_histories():
    import matplotlib
    matplotlib.use("Agg")
    from coursekit.defenses.plots import plot_history

    run = [{"epoch": e, "clean_acc": 0.9, "fgsm_acc": 0.5 + 0.1 * e, "pgd_acc": 0.5 - 0.2 * e}
           for e in (1, 2)]
    ax = plot_history({"fgsm": run, "fast": run})
    assert len(ax.lines) == 6 and ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_ylabel()
    with pytest.raises(ValueError, match="history 'plain' has no held-out accuracies"):
        plot_history({"plain": [{"epoch": 1, "loss": 0.1}]})
