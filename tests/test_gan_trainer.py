import pytest
import torch

from coursekit.gan import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
                           VirtualBatchNorm, d_step, g_step, get_loss, grid_modes, mode_metrics,
                           ring, ring_modes, train_gan)
from coursekit.gan.trainer import make_optimizer


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
