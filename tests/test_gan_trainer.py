import math

import pytest
import torch

from coursekit.gan import (ConditionalDCGANGenerator, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator,
                           MLPGenerator, VirtualBatchNorm, d_step, g_step, get_loss, grid_modes, mode_metrics,
                           ring, ring_modes, train_gan)
from coursekit.gan.trainer import make_optimizer
from coursekit.train import EVAL_BATCH


def ring_sampler(n, g):
    return ring(n, generator=g)


def small_pair(seed=0):
    torch.manual_seed(seed)
    return MLPGenerator(2, 2, hidden=32), MLPDiscriminator(2, hidden=32)


def test_d_step_leaves_g_alone_and_g_step_leaves_d_alone():
    G, D = small_pair()
    loss = get_loss("non-saturating")
    opt_d, opt_g = make_optimizer(D.parameters(), "adam", 1e-2), make_optimizer(G.parameters(), "adam", 1e-2)
    g_before = [p.clone() for p in G.parameters()]
    d_step(G, D, ring(64), G.sample_z(64), loss, opt_d)
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    d_before = [p.clone() for p in D.parameters()]
    stats = g_step(G, D, G.sample_z(64), loss, opt_g)
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))
    assert not any(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    assert all(p.requires_grad for p in D.parameters())  # D unfrozen again
    assert stats["g_grad_norm"] > 0


class Stop(Exception):
    pass


@pytest.mark.parametrize("loss", ["non-saturating", "wgan-gp"])
def test_resume_gives_the_same_weights(tmp_path, loss):
    kwargs = dict(loss=loss, steps=12, batch_size=32, k=2, seed=3, checkpoint_every=5,
                  sample_every=6, progress=False)
    G1, D1 = small_pair()
    straight = train_gan(G1, D1, ring_sampler, **kwargs)

    def stop_at_5(step, history):
        if step == 5:
            raise Stop
    G2, D2 = small_pair()
    with pytest.raises(Stop):
        train_gan(G2, D2, ring_sampler, checkpoint=tmp_path / "run.pt", callback=stop_at_5, **kwargs)
    torch.manual_seed(1234)  # the global generator must not matter
    G3, D3 = small_pair(seed=7)  # fresh, different weights: all must come from the checkpoint
    resumed = train_gan(G3, D3, ring_sampler, checkpoint=tmp_path / "run.pt", **kwargs)
    for a, b in zip(list(G1.state_dict().values()) + list(D1.state_dict().values()),
                    list(G3.state_dict().values()) + list(D3.state_dict().values())):
        assert torch.equal(a, b)
    assert resumed["g_loss"] == straight["g_loss"]
    assert [s for s, _ in resumed["samples"]] == [6, 12]


def test_checkpoint_from_another_architecture_is_refused(tmp_path):
    G, D = small_pair()
    train_gan(G, D, ring_sampler, steps=2, batch_size=8, checkpoint=tmp_path / "run.pt", progress=False)
    with pytest.raises(ValueError, match="different G"):
        train_gan(MLPGenerator(2, 2, hidden=64), MLPDiscriminator(2, hidden=32), ring_sampler,
                  steps=4, batch_size=8, checkpoint=tmp_path / "run.pt", progress=False)


def test_bad_arguments():
    G, D = small_pair()
    with pytest.raises(ValueError, match="steps"):
        train_gan(G, D, ring_sampler, steps=0)
    with pytest.raises(ValueError, match="label smoothing"):
        train_gan(G, D, ring_sampler, loss="hinge", real_label=0.9, steps=1)
    with pytest.raises(ValueError, match="loss must be one of"):
        train_gan(G, D, ring_sampler, loss="nope", steps=1)
    with pytest.raises(ValueError, match="optimizer"):
        train_gan(G, D, ring_sampler, optimizer="sgd", steps=1)


def test_eval_fn_is_recorded():
    G, D = small_pair()
    h = train_gan(G, D, ring_sampler, steps=4, batch_size=8, eval_every=2, progress=False,
                  eval_fn=lambda G: mode_metrics(G.sample(100, seed=0), ring_modes(), 0.02))
    assert [e["step"] for e in h["evals"]] == [2, 4]
    assert len(h["d_loss"]) == len(h["g_loss"]) == 4


def test_ring_has_eight_distinct_modes():
    centres = ring_modes(8, radius=2.0)
    assert len(centres) == 8
    assert torch.cdist(centres, centres).add(torch.eye(8) * 9).min() > 1.5  # no two coincide
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    assert len(grid_modes(5)) == 25


def test_mode_metrics_on_the_data_itself_and_on_a_collapsed_generator():
    g = torch.Generator().manual_seed(0)
    data = ring(4000, std=0.02, generator=g)
    m = mode_metrics(data, ring_modes(), 0.02)
    # 3σ holds 98.9% of a 2-D Gaussian (chi-square with 2 dof: 1 − e^{−4.5})
    assert m["modes_covered"] == 8 and m["high_quality"] == pytest.approx(0.989, abs=0.01)
    assert m["kl_uniform"] < 0.01
    collapsed = ring_modes()[3] + 0.02 * torch.randn(1000, 2, generator=g)
    m = mode_metrics(collapsed, ring_modes(), 0.02)
    assert m["modes_covered"] == 1
    assert m["kl_uniform"] == pytest.approx(torch.log(torch.tensor(8.0)).item(), abs=1e-6)
    with pytest.raises(ValueError, match="samples must have shape"):
        mode_metrics(torch.zeros(5, 3), ring_modes(), 0.02)


def test_dcgan_shapes_range_and_sampling():
    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=16, ngf=8), DCGANDiscriminator(ndf=8)
    x = G.sample(5, seed=1)
    assert x.shape == (5, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, G.sample(5, seed=1)) and not torch.equal(x, G.sample(5, seed=2))
    assert G.training  # sample() restores the mode
    assert D(x).shape == (5,)
    with pytest.raises(ValueError, match="n must be"):
        G.sample(0)


@pytest.mark.parametrize("conditional", [False, True])
def test_sampling_in_batches_gives_what_one_pass_over_all_codes_gives(conditional):
    # sample() runs G on EVAL_BATCH codes at a time (faster on a CPU); n is no multiple of it,
    # and for the conditional G each code must keep its own label
    torch.manual_seed(0)
    n = 2 * EVAL_BATCH + 37
    G = ConditionalDCGANGenerator(latent_dim=16, ngf=8) if conditional else DCGANGenerator(latent_dim=16, ngf=8)
    labels = torch.randint(10, (n,), generator=torch.Generator().manual_seed(1))
    x = G.sample(n, seed=4, labels=labels) if conditional else G.sample(n, seed=4)
    z = G.sample_z(n, torch.Generator().manual_seed(4))
    with torch.no_grad():
        G.eval()
        whole = G(z, labels) if conditional else G(z)
    assert x.shape == whole.shape, f"{n} samples asked, got shape {tuple(x.shape)}"
    assert torch.allclose(x, whole, atol=1e-6), f"batched samples differ from one pass by {(x - whole).abs().max():.2e}"


def test_deeper_dcgan_pair_adds_one_stage_at_the_same_image_size():
    # depth 3: G maps z to (4·ngf, 7, 7), then 2·ngf at 14×14 and ngf at 28×28, and a 3×3
    # convolution to the image; D adds a 3×3 convolution to 4·ndf channels at 7×7
    torch.manual_seed(0)
    G, D = DCGANGenerator(latent_dim=16, ngf=8, depth=3), DCGANDiscriminator(ndf=8, depth=3)
    x = G.sample(5, seed=1)
    assert x.shape == (5, 1, 28, 28) and 0 <= x.min() and x.max() <= 1 and D(x).shape == (5,)
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
             for m in G.net if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Conv2d))]
    with torch.no_grad():
        G(torch.randn(2, 16))
    for h in hooks:
        h.remove()
    assert shapes == [(16, 14, 14), (8, 28, 28), (1, 28, 28)]
    assert G.project[0].out_features == 32 * 7 * 7 and D.features_dim == 32 * 7 * 7
    assert D.net[-1].in_features == D.features_dim
    # depth 2 (the default) keeps the layout that the shipped depth-2 models were saved with
    assert list(DCGANGenerator(16, 8).state_dict()) == ["project.0.weight", "project.1.weight", "project.1.bias",
        "project.1.running_mean", "project.1.running_var", "project.1.num_batches_tracked", "net.0.weight",
        "net.1.weight", "net.1.bias", "net.1.running_mean", "net.1.running_var", "net.1.num_batches_tracked",
        "net.3.weight", "net.3.bias"]
    assert DCGANDiscriminator(8).features_dim == 16 * 7 * 7
    spectral = DCGANDiscriminator(ndf=8, norm="spectral", depth=3)
    assert sum(hasattr(m, "parametrizations") for m in spectral.net) == 4  # 3 convolutions + the linear layer
    for make in (lambda: DCGANGenerator(depth=4), lambda: DCGANDiscriminator(depth=1)):
        with pytest.raises(ValueError, match="depth must be 2 or 3"):
            make()


def test_virtual_batch_norm_makes_outputs_independent_of_the_batch():
    torch.manual_seed(0)
    vbn = VirtualBatchNorm(3)
    vbn.set_reference(torch.randn(32, 3, 4, 4) * 2 + 1)
    x = torch.randn(6, 3, 4, 4)
    together = vbn(x)
    alone = torch.cat([vbn(x[i:i + 1]) for i in range(6)])
    assert torch.allclose(together, alone, atol=1e-6)
    # unlike batch norm, whose output for x[0] depends on the rest of the batch
    bn = torch.nn.BatchNorm2d(3).train()
    assert not torch.allclose(bn(x)[:1], bn(torch.cat([x[:1], x[1:] * 5]))[:1])
    with pytest.raises(RuntimeError, match="set_reference"):
        VirtualBatchNorm(3)(x)


def test_dcgan_generator_with_virtual_batch_norm():
    # Salimans et al. 2016, §3.5: with virtual batch norm a sample does not depend on the rest of
    # its batch, in train mode too; with batch norm it does. Same seed, same initial weights.
    torch.manual_seed(0)
    G_bn = DCGANGenerator(latent_dim=16, ngf=8).train()
    torch.manual_seed(0)
    G_vbn = DCGANGenerator(latent_dim=16, ngf=8, norm="virtual").train()
    shared = {k: v for k, v in G_bn.state_dict().items() if "running" not in k and "num_batches" not in k}
    assert all(torch.equal(v, G_vbn.state_dict()[k]) for k, v in shared.items())
    z = torch.randn(6, 16, generator=torch.Generator().manual_seed(1))
    other = torch.randn(6, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(G_vbn(z)[:1], G_vbn(torch.cat([z[:1], other]))[:1], atol=1e-6)
        assert not torch.allclose(G_bn(z)[:1], G_bn(torch.cat([z[:1], other]))[:1], atol=1e-3)
    h = train_gan(G_vbn, DCGANDiscriminator(ndf=8), lambda n, g: torch.rand(n, 1, 28, 28, generator=g),
                  steps=3, batch_size=8, progress=False)
    assert len(h["g_loss"]) == 3 and all(torch.isfinite(torch.tensor(h["g_loss"])))
    with pytest.raises(ValueError, match="norm must be"):
        DCGANGenerator(norm="layer")


def test_dcgan_discriminator_without_batch_norm():
    # Gulrajani et al. 2017, §4: the gradient penalty needs a critic whose output for x depends on
    # x alone; with norm="none" it does, with batch norm (train mode) it does not
    torch.manual_seed(0)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    for norm, independent in (("none", True), ("batch", False)):
        D = DCGANDiscriminator(ndf=8, norm=norm).train()
        with torch.no_grad():
            alone, together = D(x[:1]) if norm == "none" else D(x[:2])[:1], D(x)[:1]
        assert torch.allclose(alone, together, atol=1e-6) == independent, norm
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in DCGANDiscriminator(ndf=8, norm="none").modules())
    with pytest.raises(ValueError, match="norm must be"):
        DCGANDiscriminator(norm="layer")


def test_reuse_fake_is_the_pytorch_examples_dcgan_step():
    # reuse_fake=True must give exactly the weights of a loop written like the pytorch/examples
    # DCGAN script (BCE on logits, D on real then on G(z).detach(), then G on the same G(z)
    # through the updated D), fed the same real batches and noise; and G runs once per step
    x = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    sample_real = lambda n, g: x[torch.randint(len(x), (n,), generator=g)]  # noqa: E731

    def pair():
        torch.manual_seed(1)
        return DCGANGenerator(latent_dim=16, ngf=8), DCGANDiscriminator(ndf=8)

    G, D = pair()
    calls = []
    G.register_forward_hook(lambda *_: calls.append(1))
    train_gan(G, D, sample_real, steps=3, batch_size=16, seed=5, progress=False, reuse_fake=True)
    assert len(calls) == 3

    G_ref, D_ref = pair()
    G_ref.train(), D_ref.train()
    bce = torch.nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(D_ref.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G_ref.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(5)
    for _ in range(3):
        real, z = sample_real(16, g), G_ref.sample_z(16, g)
        opt_d.zero_grad()
        out_real, fake = D_ref(real), G_ref(z)
        out_fake = D_ref(fake.detach())
        (bce(out_real, torch.ones_like(out_real)) + bce(out_fake, torch.zeros_like(out_fake))).backward()
        opt_d.step()
        opt_g.zero_grad()
        out = D_ref(fake)
        bce(out, torch.ones_like(out)).backward()
        opt_g.step()
    for ours, ref in ((G, G_ref), (D, D_ref)):
        for a, b in zip(ours.state_dict().values(), ref.state_dict().values()):
            assert torch.allclose(a.float(), b.float(), atol=1e-6)

    G2, D2 = pair()
    calls.clear()
    G2.register_forward_hook(lambda *_: calls.append(1))
    train_gan(G2, D2, sample_real, steps=3, batch_size=16, seed=5, progress=False)
    assert len(calls) == 6  # Algorithm 1: fresh noise for G, so a second forward pass per step


# ---------------------------------------------------------------- averaged G, conditional GAN

def test_ema_follows_the_average_of_the_weights_and_resumes(tmp_path):
    import copy

    from coursekit.gan.trainer import ema_update
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    expected = [0.9 * pa.detach() + 0.1 * pb.detach() for pa, pb in zip(a.parameters(), b.parameters())]
    ema_update(a, b, decay=0.9)
    assert all(torch.allclose(p, e) for p, e in zip(a.parameters(), expected))
    # in train_gan: after every step, θ_ema ← β θ_ema + (1 − β) θ; checkpoints keep G_ema
    kwargs = dict(steps=6, batch_size=16, seed=1, progress=False, ema_decay=0.5)
    G, D = small_pair()
    G_ema = copy.deepcopy(G)
    seen = []
    train_gan(G, D, ring_sampler, G_ema=G_ema, callback=lambda s, h: seen.append(
        [p.detach().clone() for p in G.parameters()]), **kwargs)
    by_hand = [p.detach().clone() for p in small_pair()[0].parameters()]
    for weights in seen:
        by_hand = [0.5 * e + 0.5 * w for e, w in zip(by_hand, weights)]
    assert all(torch.allclose(e, p, atol=1e-6) for e, p in zip(by_hand, G_ema.parameters()))

    class Stop(Exception):
        pass

    def stop_at_3(step, history):
        if step == 3:
            raise Stop
    G2, D2 = small_pair()
    G2_ema = copy.deepcopy(G2)
    with pytest.raises(Stop):
        train_gan(G2, D2, ring_sampler, G_ema=G2_ema, checkpoint=tmp_path / "r.pt", checkpoint_every=1,
                  callback=stop_at_3, **kwargs)
    G3, D3 = small_pair(seed=9)
    G3_ema = copy.deepcopy(G3)
    train_gan(G3, D3, ring_sampler, G_ema=G3_ema, checkpoint=tmp_path / "r.pt", **kwargs)
    assert all(torch.equal(x, y) for x, y in zip(G_ema.state_dict().values(), G3_ema.state_dict().values()))
    with pytest.raises(ValueError, match="ema_decay"):
        train_gan(G, D, ring_sampler, steps=1, ema_decay=1.0)


def test_standing_statistics_measure_the_batch_norms_on_g_itself():
    from coursekit.gan.trainer import standing_statistics
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=8, ngf=4).eval()
    weights = {k: v.clone() for k, v in G.state_dict().items() if "running" not in k and "num_batches" not in k}
    standing_statistics(G, n_batches=20, batch_size=50, seed=3)
    assert not G.training and all(m.momentum == 0.1 for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in weights.items())  # only statistics change
    # the running mean of the last batch norm is the mean of its input over those 1,000 codes
    running_mean = G.net[1].running_mean.clone()
    seen = []
    handle = G.net[1].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        G.train()
        g = torch.Generator().manual_seed(3)
        for _ in range(20):
            G(G.sample_z(50, g))
        G.eval()
    handle.remove()
    inputs = torch.cat(seen)
    torch.testing.assert_close(running_mean, inputs.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)


def test_spectral_norm_discriminator_has_unit_spectral_norms():
    torch.manual_seed(0)
    D = DCGANDiscriminator(ndf=8, norm="spectral").train()
    x = torch.rand(16, 1, 28, 28)
    for _ in range(30):  # the power iteration runs once per forward pass in train mode
        D(x)
    D.eval()
    linear = D.net[6].weight  # (1, 2·ndf·49): its spectral norm is its Euclidean norm
    assert linear.norm().item() == pytest.approx(1.0, rel=1e-3)
    conv = D.net[2].weight.flatten(1)
    assert torch.linalg.matrix_norm(conv, ord=2).item() == pytest.approx(1.0, rel=1e-2)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())


def test_conditional_gan_steps_and_sampling():
    from coursekit.gan import ConditionalDCGANDiscriminator, ConditionalDCGANGenerator
    torch.manual_seed(0)
    G, D = ConditionalDCGANGenerator(latent_dim=8, ngf=4), ConditionalDCGANDiscriminator(ndf=4)
    x = G.sample(20, seed=1)
    assert x.shape == (20, 1, 28, 28) and G.training and G.latent_dim == 8
    z = G.sample_z(20, torch.Generator().manual_seed(1))
    G.eval()
    with torch.no_grad():
        torch.testing.assert_close(x, G(z, torch.arange(20) % 10))  # classes 0, 1, 2, ... in turn
        assert not torch.allclose(G(z, torch.zeros(20, dtype=torch.long)), x)  # the label matters
    G.train()
    assert D(x, torch.arange(20) % 10).shape == (20,)
    # the projection term: D(x, y) − D(x, y') = (e(y) − e(y'))·φ(x)
    D.eval()
    with torch.no_grad():
        phi = D.net[:-1](x)
        diff = D(x, torch.full((20,), 3)) - D(x, torch.full((20,), 5))
        torch.testing.assert_close(diff, phi @ (D.embed.weight[3] - D.embed.weight[5]))
    D.train()
    # train_gan with (images, labels): the fakes are drawn for the real batch's labels
    data = torch.rand(64, 1, 28, 28), torch.arange(64) % 10
    asked, drawn = [], []
    D.register_forward_pre_hook(lambda m, args: asked.append(args[1].clone()))
    G.register_forward_pre_hook(lambda m, args: drawn.append(args[1].clone()))
    h = train_gan(G, D, lambda n, g: (data[0][:n], data[1][:n]), steps=2, batch_size=8, n_fixed=12,
                  sample_every=2, progress=False)
    assert len(h["g_loss"]) == 2 and h["samples"][0][1].shape == (12, 1, 28, 28)
    assert all(torch.equal(y, torch.arange(8) % 10) for y in asked)  # D scores real and fake for y
    training = [y for y in drawn if len(y) == 8]
    assert len(training) == 4 and all(torch.equal(y, torch.arange(8) % 10) for y in training)  # G draws for y
    assert torch.equal(drawn[-1], torch.arange(12) % 10)  # the fixed grid: classes 0, 1, 2, ... in turn
    with pytest.raises(ValueError, match="labels must be"):
        G.sample(3, labels=torch.tensor([0, 1, 10]))


def test_attribute_direction_within_classes_ignores_the_class():
    from coursekit.gan.latent import attribute_direction, ink
    from coursekit.gan.nets import Generator

    class TwoClassG(Generator):  # z[0] picks the class (ink level 0.2 or 0.8), z[1] adds a little ink
        latent_dim = 2

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, z):
            level = torch.where(z[:, 0] > 0, 0.8, 0.2) + 0.05 * torch.tanh(z[:, 1])
            return level.view(-1, 1, 1, 1).expand(-1, 1, 28, 28)

    G = TwoClassG()
    plain = attribute_direction(G, ink, n=4000)
    within = attribute_direction(G, ink, n=4000, labels_of=lambda x: (ink(x) > 0.5).long())
    assert plain[0] > 1.0            # the plain direction mostly switches the class
    assert abs(within[0]) < 0.1 and within[1] > 1.0  # within classes it moves only the ink


def test_class_code_generator_carries_its_class_in_the_code():
    from coursekit.gan import ClassCodeDCGANGenerator
    torch.manual_seed(0)
    G = ClassCodeDCGANGenerator(noise_dim=8, ngf=4, depth=2)
    assert G.latent_dim == 18 and G.num_classes == 10
    z = G.sample_z(2000, torch.Generator().manual_seed(0))
    eps, c = z[:, :8], z[:, 8:]
    # the code's prior: Gaussian noise, then a one-hot class drawn uniformly
    assert torch.equal(c.sum(1), torch.ones(2000)) and set(c.unique().tolist()) == {0.0, 1.0}
    counts = torch.bincount(G.class_of(z), minlength=10)
    assert counts.min() > 150, f"classes not drawn uniformly: {counts.tolist()}"  # 200 ± 13 expected each
    assert abs(eps.std().item() - 1) < 0.05 and abs(eps.mean().item()) < 0.05
    # ψ scales the noise only
    G.psi = 1.5
    z_wide = G.sample_z(2000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z_wide[:, :8], 1.5 * eps)
    assert torch.equal(z_wide[:, 8:], c)
    G.psi = 1.0
    G.eval()
    with torch.no_grad():
        # G(z) draws the class in z; G(z, y) draws class y with the same noise
        y = torch.arange(20) % 10
        coded = torch.cat([z[:20, :8], torch.nn.functional.one_hot(y, 10).float()], 1)
        torch.testing.assert_close(G(coded), G(z[:20], y))
        assert not torch.allclose(G(z[:20], (y + 1) % 10), G(coded)), "G(z, y) ignored y"
        # sample() draws classes from the prior, and sample(labels=...) the classes asked for
        torch.testing.assert_close(G.sample(20, seed=3), G(G.sample_z(20, torch.Generator().manual_seed(3))))
        torch.testing.assert_close(G.sample(20, seed=3, labels=y), G(G.sample_z(20, torch.Generator().manual_seed(3)), y))
    with pytest.raises(ValueError, match="z must have shape"):
        G(torch.randn(3, 8))
    with pytest.raises(ValueError, match="psi"):
        ClassCodeDCGANGenerator(noise_dim=8, ngf=4, psi=0.0)


def test_autocast_runs_the_training_forward_passes_in_bfloat16_and_keeps_float32_weights():
    from coursekit.gan import ClassCodeDCGANGenerator, ConditionalDCGANDiscriminator
    torch.manual_seed(0)
    G, D = ClassCodeDCGANGenerator(noise_dim=8, ngf=4, depth=3), ConditionalDCGANDiscriminator(ndf=4, depth=3)
    dtypes = {"G": set(), "D": set()}
    G.net[0].register_forward_hook(lambda m, i, o: dtypes["G"].add(o.dtype) if m.training else None)
    D.net[0].register_forward_hook(lambda m, i, o: dtypes["D"].add(o.dtype) if m.training else None)
    data = torch.rand(64, 1, 28, 28), torch.arange(64) % 10
    sample_real = lambda n, g: (data[0][:n], data[1][:n])
    for reuse_fake in (True, False):
        h = train_gan(G, D, sample_real, loss="hinge", steps=2, batch_size=8, progress=False,
                      reuse_fake=reuse_fake, autocast=torch.bfloat16)
        assert all(isinstance(v, float) and math.isfinite(v) for v in h["d_loss"] + h["g_loss"])
    assert dtypes == {"G": {torch.bfloat16}, "D": {torch.bfloat16}}, dtypes
    assert all(p.dtype == torch.float32 for p in [*G.parameters(), *D.parameters()])
    # and without it, float32 throughout
    dtypes = {"G": set(), "D": set()}
    train_gan(G, D, sample_real, loss="hinge", steps=1, batch_size=8, progress=False)
    assert dtypes == {"G": {torch.float32}, "D": {torch.float32}}, dtypes
