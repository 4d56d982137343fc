"""CycleGAN training iterations per second: coursekit's train_cyclegan beside a plain loop.

The reference is a plain loop in the style of the official pytorch-CycleGAN-and-pix2pix
training step (forward both ways, G_A and G_B with D frozen, nn.MSELoss against target
tensors, nn.L1Loss for cycle and identity, then D_A and D_B on pooled fakes with the halved
loss), on the same networks, batch and images; it weighs both cycles by λ, so on the MNIST
preset (λ_B = 2) its loss differs from ours while its work is the same. Two settings:
the full preset (Zhu et al. 2017: 256 px, batch 1, ResNet-9, 70×70 PatchGAN; a couple of
iterations, it is slow on a CPU) and the small MNIST ↔ MNIST-M preset (28 px, batch 16).
``speed ratio`` = our iterations per second / the reference's (1 = same speed).
"""
from __future__ import annotations

import random

import torch
import torch.nn as nn

from benchmarks._timing import best_time
from coursekit.gan.cyclegan import build_cyclegan, get_preset, train_cyclegan


class _ReferencePool:
    """The official ImagePool's behaviour: Python's ``random``, one image at a time."""

    def __init__(self, size):
        self.size, self.images = size, []

    def query(self, batch):
        if self.size == 0:
            return batch
        returned = []
        for image in batch.detach().split(1):
            if len(self.images) < self.size:
                self.images.append(image)
                returned.append(image)
            elif random.random() < 0.5:
                returned.append(image)
            else:
                slot = random.randrange(self.size)
                returned.append(self.images[slot].clone())
                self.images[slot] = image
        return torch.cat(returned)


def _set_requires_grad(nets, flag):
    for net in nets:
        for p in net.parameters():
            p.requires_grad = flag


def _reference_loop(gens, d_a, d_b, xa, xb, config, iterations):
    """``iterations`` steps written like the official CycleGANModel (netD_A judges domain B)."""
    net_g_a, net_g_b, net_d_a, net_d_b = gens.g_ab, gens.g_ba, d_b, d_a
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    lam, lam_idt = config.lambda_cycle, config.lambda_identity
    opt_g = torch.optim.Adam(list(net_g_a.parameters()) + list(net_g_b.parameters()), lr=config.lr,
                             betas=config.betas)
    opt_d = torch.optim.Adam(list(net_d_a.parameters()) + list(net_d_b.parameters()), lr=config.lr,
                             betas=config.betas)
    pool_a, pool_b = _ReferencePool(config.pool_size), _ReferencePool(config.pool_size)

    def gan_loss(pred, real):
        return mse(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

    for it in range(iterations):
        idx = torch.randint(len(xa), (config.batch_size,))
        real_a, real_b = xa[idx], xb[idx]
        fake_b = net_g_a(real_a)
        rec_a = net_g_b(fake_b)
        fake_a = net_g_b(real_b)
        rec_b = net_g_a(fake_a)
        _set_requires_grad([net_d_a, net_d_b], False)
        opt_g.zero_grad()
        loss_idt = 0
        if lam_idt > 0:
            loss_idt = (l1(net_g_a(real_b), real_b) + l1(net_g_b(real_a), real_a)) * lam * lam_idt
        loss_g = (gan_loss(net_d_a(fake_b), True) + gan_loss(net_d_b(fake_a), True)
                  + l1(rec_a, real_a) * lam + l1(rec_b, real_b) * lam + loss_idt)
        loss_g.backward()
        opt_g.step()
        _set_requires_grad([net_d_a, net_d_b], True)
        opt_d.zero_grad()
        for net_d, real, fake in ((net_d_a, real_b, pool_b.query(fake_b)), (net_d_b, real_a, pool_a.query(fake_a))):
            loss_d = (gan_loss(net_d(real), True) + gan_loss(net_d(fake.detach()), False)) * 0.5
            loss_d.backward()
        opt_d.step()


def _measure(preset: str, iterations: int, repeat: int, n_images: int) -> dict:
    config = get_preset(preset)
    torch.manual_seed(0)
    gens, d_a, d_b = build_cyclegan(config)
    size = config.image_size
    xa = torch.rand(n_images, config.channels_a, size, size)
    xb = torch.rand(n_images, config.channels_b, size, size)
    sample_a = lambda n, g: xa[torch.randint(len(xa), (n,), generator=g)]  # noqa: E731
    sample_b = lambda n, g: xb[torch.randint(len(xb), (n,), generator=g)]  # noqa: E731
    ours = best_time(lambda: train_cyclegan(gens, d_a, d_b, sample_a, sample_b, config, iterations,
                                            progress=False), repeat=repeat)
    ref = best_time(lambda: _reference_loop(gens, d_a, d_b, xa, xb, config, iterations), repeat=repeat)
    return {"what": f"{preset}: {size} px, batch {config.batch_size}, {config.n_blocks} blocks, "
                    f"ngf {config.ngf}", "iterations": iterations, "it/s": iterations / ours,
            "reference it/s": iterations / ref, "speed ratio": ref / ours}


def run() -> list[dict]:
    return [_measure("zhu2017", iterations=2, repeat=1, n_images=4),
            _measure("mnist", iterations=20, repeat=2, n_images=256)]
