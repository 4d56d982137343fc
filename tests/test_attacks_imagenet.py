"""The cat → iguana plumbing, offline: untrained weights, the real cat photo."""
import pytest
import torch

from coursekit.attacks import optimize_input, pgd
from coursekit.attacks.imagenet import (IGUANA, WeightsNotCached, cached_weights_path, cat_image,
                                        categories, imagenet_classifier)


def test_cat_photo_is_an_image_batch():
    cat = cat_image(64)
    assert cat.shape == (1, 3, 64, 64) and 0 <= cat.min() and cat.max() <= 1
    assert cat.std() > 0.05


def test_category_names_are_offline():
    names = categories()
    assert len(names) == 1000 and names[IGUANA] == "common iguana"


def test_missing_weights_give_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert not cached_weights_path().exists()
    with pytest.raises(WeightsNotCached, match="no ImageNet weights for resnet18"):
        imagenet_classifier("resnet18")
    with pytest.raises(ValueError, match="weights must be 'cached' or None"):
        imagenet_classifier("resnet18", weights="DEFAULT")


def test_attacks_run_on_the_imagenet_model_with_untrained_weights():
    torch.manual_seed(0)
    model = imagenet_classifier("resnet18", weights=None)
    assert not model.training
    cat = cat_image(64)
    target = torch.tensor([IGUANA])
    x, hist = optimize_input(model, cat, target, lam=0.01, steps=3, lr=0.01)
    assert x.shape == cat.shape and len(hist["prob"]) == 3
    assert hist["ce"][-1] < hist["ce"][0]
    x_adv = pgd(model, cat, target, eps=2 / 255, alpha=1 / 255, steps=2, targeted=True)
    assert (x_adv - cat).abs().max() <= 2 / 255 + 1e-6
