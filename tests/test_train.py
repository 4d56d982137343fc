import pytest
import torch

from coursekit.data import mnist
from coursekit.models import MnistCNN
from coursekit.train import accuracy, batches, predict, random_shift, train_classifier


@pytest.fixture(scope="module")
def small_train():
    return mnist("train").tensors(512)


def test_training_learns(small_train):
    torch.manual_seed(0)
    x, y = small_train
    model = MnistCNN()
    history = train_classifier(model, x, y, epochs=3, lr=3e-3, batch_size=64, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"]
    assert model.training, "a model that came in train mode goes back in train mode"
    x_test, y_test = mnist("test").tensors(500)
    assert accuracy(model, x_test, y_test) > 0.5  # chance is 0.1


class Interrupt(Exception):
    pass


def test_resume_gives_the_same_weights(small_train, tmp_path):
    x, y = small_train
    kwargs = dict(epochs=2, lr=3e-3, batch_size=64, progress=False, augment=random_shift)

    torch.manual_seed(0)
    straight = MnistCNN()
    train_classifier(straight, x, y, **kwargs)

    def stop_after_first(record):
        if record["epoch"] == 1:
            raise Interrupt
    ckpt = tmp_path / "run.pt"
    torch.manual_seed(0)
    interrupted = MnistCNN()
    with pytest.raises(Interrupt):
        train_classifier(interrupted, x, y, checkpoint=ckpt, on_epoch_end=stop_after_first, **kwargs)
    torch.manual_seed(99)  # a resumed run must not depend on the global state at restart
    resumed = MnistCNN()
    history = train_classifier(resumed, x, y, checkpoint=ckpt, **kwargs)
    assert [h["epoch"] for h in history] == [1, 2]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_predict_restores_training_mode():
    model = MnistCNN().train()
    predict(model, torch.rand(3, 1, 28, 28))
    assert model.training


def test_bad_shapes_are_errors():
    model = MnistCNN()
    with pytest.raises(ValueError, match=r"x must be a batch of images \(N, C, H, W\)"):
        accuracy(model, torch.rand(5, 28, 28), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="one label per image"):
        accuracy(model, torch.rand(5, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(10, 0))


def test_random_shift_keeps_shape_range_and_mass():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(8, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0  # a centred square survives any shift of <= 2 pixels
    shifted = random_shift(x, g)
    assert shifted.shape == x.shape
    assert torch.equal(shifted.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
    assert not torch.equal(shifted, x)


def test_training_hands_back_every_mode_as_it_came(small_train):
    """A model that comes in eval mode with one submodule in train mode (a caller's mix) leaves
    exactly so: each submodule's flag is restored, not the top module's flag copied down."""
    x, y = small_train
    model = MnistCNN().eval()
    model[18].train()                           # its dropout layer
    before = [m.training for m in model.modules()]
    train_classifier(model, x[:128], y[:128], epochs=1, batch_size=64, progress=False)
    assert [m.training for m in model.modules()] == before
    predict(model, x[:8])
    assert [m.training for m in model.modules()] == before
