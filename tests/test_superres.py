"""coursekit.gan.superres: PSNR against torchmetrics, the networks, the SRGAN steps."""
import pytest
import torch
from torch import nn

from coursekit.gan.superres import (SRDiscriminator, SRGenerator, bicubic, classifier_features,
                                    content_loss, downscale, feature_fid, psnr, srgan_d_step,
                                    srgan_g_step, train_sr, upscale)
from coursekit.models import load_pretrained


def test_psnr_matches_torchmetrics():
    from torchmetrics.functional.image import peak_signal_noise_ratio

    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 28, 28, generator=g)
    y = (x + 0.1 * torch.randn(6, 1, 28, 28, generator=g)).clamp(0, 1)
    expected = peak_signal_noise_ratio(y, x, data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3))
    assert psnr(y, x) == pytest.approx(expected.item(), abs=1e-4)
    assert psnr(x, x) == pytest.approx(100.0)  # identical images: capped, not infinite
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, x[:, :, :14])


def test_downscale_bicubic_and_the_generator_shapes():
    x = torch.rand(3, 1, 28, 28)
    low = downscale(x)
    assert low.shape == (3, 1, 7, 7) and torch.allclose(low.mean(), x.mean(), atol=1e-6)
    up = bicubic(low)
    assert up.shape == x.shape and 0 <= up.min() and up.max() <= 1
    # bicubic of a constant image is that constant
    assert torch.allclose(bicubic(torch.full((1, 1, 7, 7), 0.3)), torch.full((1, 1, 28, 28), 0.3), atol=1e-6)
    G = SRGenerator(nf=8, n_blocks=1)
    out = G(low)
    assert out.shape == (3, 1, 28, 28) and 0 <= out.min() and out.max() <= 1
    assert SRDiscriminator(ndf=8)(out).shape == (3,)
    with pytest.raises(ValueError, match="divisible by 4"):
        downscale(torch.rand(1, 1, 30, 30))
    with pytest.raises(ValueError, match="power of 2"):
        SRGenerator(factor=3)
    with pytest.raises(ValueError, match=r"\(N, 1, h, w\)"):
        G(torch.rand(1, 3, 7, 7))


def test_content_loss_uses_the_classifier_features_and_leaves_them_frozen():
    phi = classifier_features(load_pretrained("mnist-cnn"), layer=13)
    x = torch.rand(2, 1, 28, 28)
    assert phi(x).shape == (2, 32, 14, 14)  # the ReLU after mnist-cnn's last convolution
    assert not phi.training and not any(p.requires_grad for p in phi.parameters())
    assert content_loss(phi, x, x).item() == 0.0
    assert content_loss(phi, x, x.flip(3)).item() > 0


def test_srgan_steps_update_only_their_own_network():
    torch.manual_seed(0)
    G, D = SRGenerator(nf=8, n_blocks=1), SRDiscriminator(ndf=8)
    phi = classifier_features(load_pretrained("mnist-cnn"))
    x_high = torch.rand(4, 1, 28, 28)
    x_low = downscale(x_high)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-4), torch.optim.Adam(D.parameters(), 1e-4)
    d_before = [p.clone() for p in D.parameters()]
    losses, fake = srgan_g_step(G, D, phi, x_low, x_high, opt_g)
    # Ledig et al. 2017, eq. 3: l_SR = l_X + 10⁻³ l_Gen
    assert losses["g_loss"] == pytest.approx(losses["content"] + 1e-3 * losses["adv"], rel=1e-5)
    assert all(torch.equal(p, q) for p, q in zip(d_before, D.parameters()))
    assert all(p.grad is None and p.requires_grad for p in D.parameters())
    g_before = [p.clone() for p in G.parameters()]
    srgan_d_step(D, x_high, fake, opt_d)
    assert all(torch.equal(p, q) for p, q in zip(g_before, G.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(d_before, D.parameters()))


def test_train_sr_learns_and_checks_its_arguments():
    torch.manual_seed(0)
    data = torch.rand(32, 1, 8, 8).round()
    sample = lambda n, g: data[torch.randint(32, (n,), generator=g)]  # noqa: E731
    G = SRGenerator(nf=8, n_blocks=1, factor=2)
    history = train_sr(G, sample, steps=60, batch_size=8, lr=1e-2, progress=False)
    assert sum(history["l1"][-5:]) < 0.7 * sum(history["l1"][:5])
    assert G.training and upscale(G, downscale(data, 2)).shape == data.shape  # its mode, as it came
    with pytest.raises(ValueError, match="needs both D and phi"):
        train_sr(G, sample, steps=1, D=nn.Linear(1, 1))


def test_train_sr_evaluates_in_eval_mode_and_checks_the_schedule():
    torch.manual_seed(0)
    data = torch.rand(32, 1, 8, 8).round()
    sample = lambda n, g: data[torch.randint(32, (n,), generator=g)]  # noqa: E731
    G = SRGenerator(nf=8, n_blocks=1, factor=2)
    modes = []
    history = train_sr(G, sample, steps=40, batch_size=8, lr=1e-2, schedule="cosine", progress=False,
                       eval_fn=lambda net: modes.append(net.training) or {"l1": _l1_on_fixed_batch(net)}, eval_every=15)
    assert [e["step"] for e in history["evals"]] == [15, 30, 40] and modes == [False] * 3
    assert history["evals"][-1]["l1"] < history["evals"][0]["l1"]      # it learns under the cosine schedule too
    assert G.training
    with pytest.raises(ValueError, match="schedule must be 'constant' or 'cosine'"):
        train_sr(G, sample, steps=1, schedule="step")


def _l1_on_fixed_batch(G):
    data = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)).round()
    return (G(downscale(data, 2)) - data).abs().mean().item()


def test_cosine_schedule_ends_at_a_learning_rate_of_zero(monkeypatch):
    """The last steps of a cosine run barely move G: its final update is far smaller than a
    constant-rate run's from the same start (Loshchilov & Hutter 2017: lr·(1 + cos(π t/T))/2)."""
    data = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)).round()
    sample = lambda n, g: data[torch.randint(32, (n,), generator=g)]  # noqa: E731
    last_move = {}
    for schedule in ("constant", "cosine"):
        torch.manual_seed(0)
        G = SRGenerator(nf=8, n_blocks=1, factor=2)
        snapshots = []
        train_sr(G, sample, steps=20, batch_size=8, lr=1e-2, schedule=schedule, progress=False,
                 eval_fn=lambda net: snapshots.append([p.detach().clone() for p in net.parameters()]) or {},
                 eval_every=1)
        last_move[schedule] = sum((a - b).abs().sum().item() for a, b in zip(snapshots[-1], snapshots[-2]))
    assert last_move["cosine"] < 0.1 * last_move["constant"], last_move


def test_feature_fid_in_mnist_cnn_features_is_the_metrics_fid():
    """With mnist-cnn's layer 17 (the default FID features), feature_fid is coursekit.metrics.fid."""
    from coursekit.data import mnist
    from coursekit.metrics import MNIST_FEATURE_LAYER, fid

    x, _ = mnist("test").tensors(600)
    a, b = x[:300], x[300:]
    phi = classifier_features(load_pretrained("mnist-cnn"), layer=MNIST_FEATURE_LAYER)
    assert feature_fid(phi, a, b) == pytest.approx(fid(a, b, progress=False), rel=1e-6)
    assert feature_fid(phi, a, a) == pytest.approx(0.0, abs=1e-3)
