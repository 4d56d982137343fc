"""coursekit.gan.cyclegan and coursekit.gan.pix2pix: published sizes, the pool, the two steps.

Parameter counts are the ones the official pytorch-CycleGAN-and-pix2pix code prints for the
paper's networks ("[Network G_A] Total number of parameters : 11.378 M", "[Network D_A] ...
2.765 M" for CycleGAN; "54.414 M" and "2.769 M" for pix2pix's unet_256 and its conditional D).
"""
import copy

import pytest
import torch
from torch import nn

from coursekit.gan.cyclegan import (PRESETS, CycleGANConfig, ImagePool, PatchDiscriminator,
                                    ResnetGenerator, build_cyclegan, count_parameters, cycle_loss,
                                    d_step, g_step, generator_losses, get_preset, linear_decay,
                                    make_optimizers, receptive_field, train_cyclegan,
                                    translation_accuracy)
from coursekit.gan.pix2pix import UnetGenerator, conditional_discriminator
from coursekit.gan.pix2pix import d_step as p2p_d_step
from coursekit.gan.pix2pix import g_step as p2p_g_step
from coursekit.gan.pix2pix import train_pix2pix


def test_full_preset_has_the_published_parameter_counts():
    gens, d_a, d_b = build_cyclegan(PRESETS["zhu2017"])
    assert count_parameters(gens.g_ab) == count_parameters(gens.g_ba) == 11_378_179  # 11.378M
    assert count_parameters(d_a) == count_parameters(d_b) == 2_764_737                # 2.765M
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in gens.g_ab.modules()) == 2 + 2 * 9 + 2 + 1
    assert receptive_field(3) == 70  # the 70×70 PatchGAN (Isola et al. 2017, §6.1.2)
    assert receptive_field(1) == 16 and receptive_field(2) == 34 and receptive_field(4) == 142
    # a 256 px image gives a 30×30 map of patch scores, as in the official code
    with torch.no_grad():
        assert d_a(torch.rand(1, 3, 256, 256)).shape == (1, 1, 30, 30)
        assert gens.g_ab(torch.rand(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_pix2pix_networks_have_the_published_parameter_counts():
    assert count_parameters(UnetGenerator(3, 3, num_downs=8, ngf=64)) == 54_413_955  # 54.414M
    assert count_parameters(conditional_discriminator(3, 3)) == 2_768_705           # 2.769M


def test_presets_and_their_checks():
    zhu = PRESETS["zhu2017"]
    assert (zhu.lambda_cycle, zhu.lambda_identity, zhu.pool_size, zhu.lr, zhu.betas, zhu.batch_size) == \
        (10.0, 0.5, 50, 2e-4, (0.5, 0.999), 1)  # Zhu et al. 2017, §4 and the official defaults
    assert (zhu.n_blocks, PRESETS["zhu2017-128"].n_blocks) == (9, 6)
    small = PRESETS["mnist"]
    assert (small.channels_a, small.channels_b, small.image_size) == (1, 3, 28)
    with pytest.raises(ValueError, match="needs channels_a == channels_b"):
        CycleGANConfig(channels_a=1, channels_b=3)
    with pytest.raises(ValueError, match="must be >= 0"):
        get_preset("mnist", lambda_cycle=-1.0)
    with pytest.raises(ValueError, match="preset must be one of"):
        get_preset("horse2zebra")
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\) with H and W divisible by 4, got \(2, 1, 30, 30\)"):
        ResnetGenerator(1, 3, ngf=4, n_blocks=1)(torch.rand(2, 1, 30, 30))
    with pytest.raises(ValueError, match="n_blocks must be an int >= 0"):
        ResnetGenerator(n_blocks=-1)


def test_generators_map_unit_interval_to_unit_interval():
    gens, d_a, d_b = build_cyclegan(PRESETS["mnist"])
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        y = gens.g_ab(x)
        assert y.shape == (4, 3, 28, 28) and 0 <= y.min() and y.max() <= 1
        assert gens.g_ba(y).shape == (4, 1, 28, 28) and gens(x).shape == x.shape
        assert d_b(y).shape == (4, 1, 5, 5)  # 34×34 patches on 28 px: a 5×5 map


def test_image_pool_follows_shrivastava_et_al():
    g = torch.Generator().manual_seed(0)
    pool = ImagePool(size=4, generator=g)
    first = torch.arange(4.0).view(4, 1, 1, 1).requires_grad_(True)
    out = pool.query(first)
    assert torch.equal(out, first.detach()) and not out.requires_grad  # filling up: returned as is
    returned_old, held = 0, {0.0, 1.0, 2.0, 3.0}
    for step in range(200):
        new = torch.full((2, 1, 1, 1), 100.0 + step)
        out = pool.query(new)
        assert out.shape == new.shape and len(pool.images) == 4
        # everything returned was either just given or held by the pool before this call
        assert set(out.flatten().tolist()) <= held | {100.0 + step}
        held = {v.item() for v in pool.images}
        returned_old += int((out < 100.0 + step).sum())
    # each image is swapped for a stored one with probability ½: 400 draws, expect 200 ± 3σ (30)
    assert 170 <= returned_old <= 230, returned_old
    # a fixed generator makes the pool repeatable; size 0 turns it off
    a, b = ImagePool(2, torch.Generator().manual_seed(1)), ImagePool(2, torch.Generator().manual_seed(1))
    xs = [torch.rand(3, 1, 2, 2, generator=torch.Generator().manual_seed(i)) for i in range(5)]
    assert all(torch.equal(a.query(x), b.query(x)) for x in xs)
    assert torch.equal(ImagePool(0).query(xs[0]), xs[0])
    with pytest.raises(ValueError, match="size must be an int >= 0"):
        ImagePool(-1)


def test_cycle_loss_is_torch_l1():
    x, y = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    assert torch.allclose(cycle_loss(x, y), nn.L1Loss()(y, x))


def _tiny(channels_a=3, channels_b=3, identity=0.5):
    config = get_preset("mnist", channels_a=channels_a, channels_b=channels_b, ngf=4, ndf=4, n_blocks=1,
                        lambda_identity=identity, batch_size=2, pool_size=5)
    torch.manual_seed(0)
    return config, *build_cyclegan(config)


def test_one_iteration_matches_the_official_training_step():
    """Our g_step + d_step against CycleGANModel.optimize_parameters written out with the
    official losses (nn.MSELoss to target tensors, nn.L1Loss, D loss × 0.5), same init, same batch."""
    config, gens, d_a, d_b = _tiny()
    ref_gens, ref_d_a, ref_d_b = copy.deepcopy(gens), copy.deepcopy(d_a), copy.deepcopy(d_b)
    real_a, real_b = torch.rand(2, 3, 28, 28), torch.rand(2, 3, 28, 28)

    opt_g, opt_d, _ = make_optimizers(gens, d_a, d_b, config, steps=10)
    losses, fake_a, fake_b = g_step(gens, d_a, d_b, real_a, real_b, opt_g, 10.0, 0.5)
    d_step(d_a, d_b, real_a, real_b, fake_a, fake_b, opt_d)  # a fresh pool returns its input

    mse, l1 = nn.MSELoss(), nn.L1Loss()
    ref_opt_g, ref_opt_d, _ = make_optimizers(ref_gens, ref_d_a, ref_d_b, config, steps=10)
    G_A, G_B, D_A, D_B = ref_gens.g_ab, ref_gens.g_ba, ref_d_b, ref_d_a  # the official names
    fake_B, fake_A = G_A(real_a), G_B(real_b)
    rec_A, rec_B = G_B(fake_B), G_A(fake_A)
    for p in list(D_A.parameters()) + list(D_B.parameters()):
        p.requires_grad = False
    pred_a, pred_b = D_A(fake_B), D_B(fake_A)
    loss_G = (mse(pred_a, torch.ones_like(pred_a)) + mse(pred_b, torch.ones_like(pred_b))
              + 10 * l1(rec_A, real_a) + 10 * l1(rec_B, real_b)
              + 10 * 0.5 * (l1(G_A(real_b), real_b) + l1(G_B(real_a), real_a)))
    ref_opt_g.zero_grad()
    loss_G.backward()
    ref_opt_g.step()
    for p in list(D_A.parameters()) + list(D_B.parameters()):
        p.requires_grad = True
    ref_opt_d.zero_grad()
    for D, real, fake in ((D_A, real_b, fake_B), (D_B, real_a, fake_A)):
        pr, pf = D(real), D(fake.detach())
        (0.5 * (mse(pr, torch.ones_like(pr)) + mse(pf, torch.zeros_like(pf)))).backward()
    ref_opt_d.step()

    assert losses["g_loss"] == pytest.approx(loss_G.item(), rel=1e-6)
    for ours, ref in ((gens, ref_gens), (d_a, ref_d_a), (d_b, ref_d_b)):
        for p, q in zip(ours.parameters(), ref.parameters()):
            assert torch.allclose(p, q, atol=1e-6)


def test_g_step_leaves_the_discriminators_alone_and_d_step_the_generators():
    config, gens, d_a, d_b = _tiny(1, 3, identity=0.0)
    real_a, real_b = torch.rand(2, 1, 28, 28), torch.rand(2, 3, 28, 28)
    opt_g, opt_d, _ = make_optimizers(gens, d_a, d_b, config, steps=10)
    d_before = [p.clone() for p in list(d_a.parameters()) + list(d_b.parameters())]
    g_before = [p.clone() for p in gens.parameters()]
    losses, fake_a, fake_b = g_step(gens, d_a, d_b, real_a, real_b, opt_g, 10.0, 0.0)
    assert set(losses) == {"g_loss", "adv_ab", "adv_ba", "cycle_a", "cycle_b"}  # no identity term
    assert all(torch.equal(p, q) for p, q in zip(d_before, list(d_a.parameters()) + list(d_b.parameters())))
    assert all(p.grad is None and p.requires_grad for p in list(d_a.parameters()) + list(d_b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(g_before, gens.parameters()))
    assert not fake_a.requires_grad and not fake_b.requires_grad
    g_after = [p.clone() for p in gens.parameters()]
    d_step(d_a, d_b, real_a, real_b, fake_a, fake_b, opt_d)
    assert all(torch.equal(p, q) for p, q in zip(g_after, gens.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(d_before, list(d_a.parameters()) + list(d_b.parameters())))


def test_generator_losses_add_up():
    _, gens, d_a, d_b = _tiny()
    real_a, real_b = torch.rand(2, 3, 28, 28), torch.rand(2, 3, 28, 28)
    with torch.no_grad():
        total, t, _, _ = generator_losses(gens, d_a, d_b, real_a, real_b, lambda_cycle=7.0, lambda_identity=0.3)
    expected = t["adv_ab"] + t["adv_ba"] + 7 * (t["cycle_a"] + t["cycle_b"]) + 7 * 0.3 * (t["identity_a"] + t["identity_b"])
    assert torch.allclose(total, expected)
    # a separate weight for the B → A → B cycle (the official code's lambda_B) also weighs G's identity term
    with torch.no_grad():
        total_b, t, _, _ = generator_losses(gens, d_a, d_b, real_a, real_b, lambda_cycle=7.0,
                                            lambda_identity=0.3, lambda_cycle_b=2.0)
    expected = (t["adv_ab"] + t["adv_ba"] + 7 * t["cycle_a"] + 2 * t["cycle_b"]
                + 0.3 * (7 * t["identity_a"] + 2 * t["identity_b"]))
    assert torch.allclose(total_b, expected)


def test_learning_rate_is_constant_then_linear_to_zero():
    assert [linear_decay(s, 100, 50) for s in (0, 49, 50, 75)] == [1.0, 1.0, 1.0, 0.5]
    assert linear_decay(100, 100, 50) == 0.0
    config, gens, d_a, d_b = _tiny()
    opt_g, opt_d, schedulers = make_optimizers(gens, d_a, d_b, config, steps=8)  # 4 constant, 4 decaying
    lrs = []
    for _ in range(8):
        lrs.append(opt_g.param_groups[0]["lr"])
        opt_g.step(), opt_d.step()
        for s in schedulers:
            s.step()
    assert lrs == pytest.approx([2e-4] * 5 + [1.5e-4, 1e-4, 0.5e-4])


def test_train_cyclegan_is_repeatable_and_records_losses():
    def run():
        config, gens, d_a, d_b = _tiny(1, 3, identity=0.0)
        xa, xb = torch.rand(16, 1, 28, 28), torch.rand(16, 3, 28, 28)
        history = train_cyclegan(gens, d_a, d_b, lambda n, g: xa[torch.randint(16, (n,), generator=g)],
                                 lambda n, g: xb[torch.randint(16, (n,), generator=g)], config, steps=3,
                                 eval_fn=lambda G: {"x": 1.0}, eval_every=2, progress=False)
        return gens, history

    torch.manual_seed(0)
    gens1, h1 = run()
    gens2, h2 = run()
    assert len(h1["g_loss"]) == len(h1["d_b"]) == 3 and [e["step"] for e in h1["evals"]] == [2, 3]
    assert h1["g_loss"] == h2["g_loss"]
    assert all(torch.equal(p, q) for p, q in zip(gens1.parameters(), gens2.parameters()))
    assert gens1.training, "the networks come back in the mode they came in (train)"


def test_translation_accuracy_reads_the_translation_and_restores_the_mode():
    class Copy(nn.Module):  # the "translator" that changes nothing
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return x + 0 * self.w

    classifier = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    x = torch.rand(10, 1, 2, 2)
    y = classifier(x).argmax(1).detach()
    G = Copy().train()
    assert translation_accuracy(G, classifier, x, y) == 1.0 and G.training
    assert translation_accuracy(G, classifier, x, 1 - y) == 0.0


def test_pix2pix_steps_and_the_l1_weight():
    torch.manual_seed(0)
    G, D = UnetGenerator(1, 1, num_downs=2, ngf=8), conditional_discriminator(1, 1, ndf=8, n_layers=2)
    x, y = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    assert G(x).shape == (4, 1, 28, 28) and D(torch.cat([x, y], 1)).shape == (4, 1, 5, 5)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 2e-4), torch.optim.Adam(D.parameters(), 2e-4)
    d_before = [p.clone() for p in D.parameters()]
    losses, fake = p2p_g_step(G, D, x, y, opt_g)  # λ = 100 by default (Isola et al. 2017, eq. 4)
    assert losses["g_loss"] == pytest.approx(losses["adv"] + 100 * losses["l1"], rel=1e-5)
    assert all(torch.equal(p, q) for p, q in zip(d_before, D.parameters()))
    g_before = [p.clone() for p in G.parameters()]
    p2p_d_step(D, x, y, fake, opt_d)
    assert all(torch.equal(p, q) for p, q in zip(g_before, G.parameters()))
    with pytest.raises(ValueError, match="divisible by 4"):
        G(torch.rand(1, 1, 30, 30))


def test_pix2pix_learns_a_paired_mapping():
    # y = 1 − x is a mapping a U-Net learns in a few dozen steps; L1 must fall by half
    torch.manual_seed(0)
    data = torch.rand(64, 1, 8, 8).round()
    sample = lambda n, g: (lambda i: (data[i], 1 - data[i]))(torch.randint(64, (n,), generator=g))  # noqa: E731
    G = UnetGenerator(1, 1, num_downs=2, ngf=8, dropout=False)
    history = train_pix2pix(G, None, sample, steps=60, batch_size=16, lr=1e-2, progress=False)
    assert sum(history["l1"][-5:]) / 5 < 0.5 * sum(history["l1"][:5]) / 5
    G2, D2 = UnetGenerator(1, 1, num_downs=2, ngf=8), conditional_discriminator(1, 1, ndf=8, n_layers=1)
    h2 = train_pix2pix(G2, D2, sample, steps=3, batch_size=4, progress=False)
    assert set(h2) == {"g_loss", "adv", "l1", "d_loss"} and len(h2["d_loss"]) == 3
