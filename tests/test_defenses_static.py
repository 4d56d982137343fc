"""Training on a static adversarial set (coursekit.defenses.static): argument checks, and the
lecture's claim that the model learns the examples it saw, not robustness."""
import pytest
import torch

import coursekit as ck
from coursekit.data import mnist
from coursekit.defenses.adversarial import robust_accuracy
from coursekit.defenses.static import static_adversarial_set, static_adversarial_training
from coursekit.models import build
from coursekit.train import accuracy

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_static_set_rejects_an_unknown_attack():
    with pytest.raises(ValueError, match="attack must be 'fgsm' or 'pgd', got 'cw'"):
        static_adversarial_set(build("mnist-cnn-small"), torch.rand(4, 1, 28, 28),
                               torch.zeros(4, dtype=torch.long), attack="cw")


# ---- the static set: robust to the attack it saw, much less to another -----------------------

def test_static_adversarial_training_resists_the_attack_it_saw_not_another(cnn, test_set):
    """The lecture's claim, measured: a model trained on clean digits plus FGSM examples forged
    once against the fixed "mnist-cnn" classifies FGSM examples forged against that model
    (the attack it saw, on test digits it never saw) far better than a model trained on the
    clean digits alone, yet white-box PGD on the new model itself still breaks it.

    Budget: 2,000 training digits, 3 epochs of "mnist-cnn-small", 500 test digits, ε = 0.3.
    Measured once with these seeds: 96.2% on the attack it saw, 0.0% under PGD-20, 49.2% for
    the clean-only model on the same examples. The bounds below leave wide margins around
    that; the gaps they demand are the claim itself.
    """
    x_test, y_test = test_set[0][:500], test_set[1][:500]
    x, y = mnist("train").tensors(2000)
    x_adv = static_adversarial_set(cnn, x, y, "fgsm", eps=0.3)
    seen_attack = static_adversarial_set(cnn, x_test, y_test, "fgsm", eps=0.3)

    ck.seed_all(0)
    static = build("mnist-cnn-small")
    static_adversarial_training(static, x, y, x_adv, epochs=3, progress=False)
    ck.seed_all(0)
    plain = build("mnist-cnn-small")
    static_adversarial_training(plain, x, y, x, epochs=3, progress=False)   # clean twice: same budget

    acc_seen = accuracy(static, seen_attack, y_test)
    acc_plain_seen = accuracy(plain, seen_attack, y_test)
    acc_white_box = robust_accuracy(static, x_test, y_test, 0.3, steps=20, alpha=0.03, restarts=1)
    report = f"static: {acc_seen:.1%} on the attack it saw, {acc_white_box:.1%} under PGD-20; " \
             f"clean-only model: {acc_plain_seen:.1%} on the same examples"
    assert acc_seen >= 0.80, report
    assert acc_seen - acc_plain_seen >= 0.2, report
    assert acc_white_box <= 0.2 and acc_seen - acc_white_box >= 0.5, report
    assert accuracy(static, x_test, y_test) >= 0.85, report   # and it still classifies clean digits
