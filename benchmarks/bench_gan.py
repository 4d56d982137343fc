"""MNIST DCGAN training steps per second: coursekit's train_gan beside a plain loop.

The reference is written like the pytorch/examples DCGAN script (BCE on sigmoid outputs,
D on real then fake, G with real labels), on the same networks, batch and data; ``ratio`` =
coursekit seconds / reference seconds for the same number of steps (k = 1).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from benchmarks._timing import best_time
from coursekit.data import mnist
from coursekit.gan import DCGANDiscriminator, DCGANGenerator, train_gan

STEPS, BATCH = 30, 64


def _plain_loop(G, D, x, steps, batch):
    criterion = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for _ in range(steps):
        real = x[torch.randint(len(x), (batch,))]
        D.zero_grad()
        out = D(real)
        err_real = criterion(out, torch.ones_like(out))
        err_real.backward()
        fake = G(torch.randn(batch, G.latent_dim))
        out = D(fake.detach())
        err_fake = criterion(out, torch.zeros_like(out))
        err_fake.backward()
        opt_d.step()
        G.zero_grad()
        out = D(fake)
        err_g = criterion(out, torch.ones_like(out))
        err_g.backward()
        opt_g.step()


def run() -> list[dict]:
    x, _ = mnist("train").tensors(10_000)
    sample_real = lambda n, g: x[torch.randint(len(x), (n,), generator=g)]  # noqa: E731
    rows = []
    for ngf in (32, 64):
        torch.manual_seed(0)
        G, D = DCGANGenerator(ngf=ngf), DCGANDiscriminator(ndf=ngf)
        ours = best_time(lambda: train_gan(G, D, sample_real, steps=STEPS, batch_size=BATCH,
                                           progress=False), repeat=2)
        ref = best_time(lambda: _plain_loop(G, D, x, STEPS, BATCH), repeat=2)
        rows.append({"what": f"DCGAN ngf=ndf={ngf}, batch {BATCH}", "steps/s": STEPS / ours,
                     "reference steps/s": STEPS / ref, "ratio": ours / ref})
    return rows
