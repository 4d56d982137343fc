"""Transfer attacks: MI-FGSM against torchattacks, leave-one-out ensembles, transfer matrices."""
import pytest
import torch
import torchattacks

from coursekit.attacks import leave_one_out_rates, mi_fgsm, pgd, transfer_rates
from coursekit.data import mnist
from coursekit.models import load_pretrained


@pytest.fixture(scope="module")
def batch():
    return mnist("test").tensors(48)


@pytest.fixture(scope="module")
def zoo(cnn):
    return {"mnist-cnn": cnn, "mnist-lenet": load_pretrained("mnist-lenet"), "mnist-mlp": load_pretrained("mnist-mlp")}


@pytest.mark.parametrize("targeted", [False, True])
def test_mi_fgsm_matches_torchattacks(cnn, batch, targeted):
    # torchattacks normalises by the mean |g| where Dong et al. (and we) use the sum: a constant
    # factor d for every term of the momentum, so every sign, and so every step, is the same
    x, y = batch
    labels = (y + 1) % 10 if targeted else y
    ref = torchattacks.MIFGSM(cnn, eps=0.2, alpha=0.02, steps=10, decay=1.0)
    if targeted:
        ref.set_mode_targeted_by_label(quiet=True)
    ours = mi_fgsm(cnn, x, labels, 0.2, steps=10, decay=1.0, targeted=targeted)
    assert (ours - ref(x, labels)).abs().max().item() <= 1e-6


def test_mi_fgsm_without_momentum_is_iterative_fgsm(cnn, batch):
    x, y = batch
    ours = mi_fgsm(cnn, x, y, 0.1, steps=5, decay=0.0)
    assert torch.equal(ours, pgd(cnn, x, y, 0.1, alpha=0.1 / 5, steps=5, random_start=False))


def test_mi_fgsm_contract(cnn, batch):
    x, y = batch
    x_before, mode = x.clone(), cnn.training
    out = mi_fgsm(cnn, x, y, 0.15)
    assert torch.equal(x, x_before) and cnn.training == mode
    assert out.min() >= 0 and out.max() <= 1 and (out - x).abs().max() <= 0.15 + 1e-6
    assert all(p.grad is None for p in cnn.parameters())
    with pytest.raises(ValueError, match="decay"):
        mi_fgsm(cnn, x, y, 0.1, decay=-1.0)
    with pytest.raises(ValueError, match="steps"):
        mi_fgsm(cnn, x, y, 0.1, steps=0)


def test_transfer_rates_diagonal_is_white_box(zoo, batch):
    x, y = batch
    names, rates = transfer_rates(zoo, x, y, lambda m, a, b: pgd(m, a, b, 0.3, 0.02, 20, random_start=False))
    assert names == list(zoo) and rates.shape == (3, 3)
    assert (rates.diagonal() > 0.9).all()
    assert ((rates >= 0) & (rates <= 1)).all()


def test_leave_one_out_attacks_the_average_of_the_others(zoo, batch):
    x, y = batch
    seen = []

    def attack(m, a, b):
        seen.append(sorted(type(member).__name__ for member in m.members))
        return pgd(m, a, b, 0.3, 0.02, 10, random_start=False)

    rates = leave_one_out_rates(zoo, x, y, attack)
    assert list(rates) == list(zoo)
    assert seen == [["MnistLeNet", "MnistMLP"], ["MnistCNN", "MnistMLP"], ["MnistCNN", "MnistLeNet"]]
    assert all(0 <= r <= 1 for r in rates.values())
    with pytest.raises(ValueError, match="at least 2"):
        leave_one_out_rates({"mnist-cnn": zoo["mnist-cnn"]}, x, y, attack)
