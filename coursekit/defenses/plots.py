"""Figures of the defenses' results: :func:`plot_history`, the held-out accuracy curves that
:func:`~coursekit.defenses.adversarial.adversarial_training` records, where catastrophic
overfitting shows. Course-wide image plots live in ``coursekit.viz``.
"""
from __future__ import annotations


def plot_history(histories: dict[str, list[dict]], ax=None):
    """Held-out accuracy per epoch for each named run: clean (dotted), FGSM (dashed), PGD (solid).

    Catastrophic overfitting shows as an FGSM curve that climbs while the PGD curve of the
    same run falls to 0. ``histories`` maps a label to the history that
    :func:`~coursekit.defenses.adversarial.adversarial_training` returns.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for i, (label, history) in enumerate(histories.items()):
        if not history or "pgd_acc" not in history[0]:
            raise ValueError(f"history {label!r} has no held-out accuracies; train with x_val, y_val")
        epochs = [r["epoch"] for r in history]
        color = f"C{i}"
        ax.plot(epochs, [r["clean_acc"] for r in history], ":", color=color)
        ax.plot(epochs, [r["fgsm_acc"] for r in history], "--", color=color)
        ax.plot(epochs, [r["pgd_acc"] for r in history], "-o", color=color, label=label)
    ax.set(xlabel="epoch", ylabel="held-out accuracy", ylim=(-0.02, 1.02),
           title="Adversarial training: clean (dotted), FGSM (dashed), PGD (solid)")
    ax.legend(title="PGD accuracy of")
    return ax
