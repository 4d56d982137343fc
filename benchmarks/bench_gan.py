"""MNIST DCGAN training steps per second: coursekit's train_gan beside a plain loop.

The reference is written like the pytorch/examples DCGAN script (BCE on sigmoid outputs,
D on real then fake, G with real labels on the same fakes), on the same networks, batch and
data; ``ratio`` = coursekit seconds / reference seconds for the same number of steps (k = 1).
Two rows per size: ``train_gan(reuse_fake=True)``, which does the script's work step for
step (tests/test_gan_trainer.py checks it gives the same weights), and the default, which
follows Algorithm 1 of Goodfellow et al. and draws fresh noise for G's update, one more
forward pass of G per step.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from benchmarks._timing import best_time
from coursekit.data import mnist
from coursekit.gan import DCGANDiscriminator, DCGANGenerator, train_gan

STEPS, BATCH = 60, 64


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
        runs = {"reference": lambda: _plain_loop(G, D, x, STEPS, BATCH),
                "same step": lambda: train_gan(G, D, sample_real, steps=STEPS, batch_size=BATCH,
                                               progress=False, reuse_fake=True),
                "algorithm 1": lambda: train_gan(G, D, sample_real, steps=STEPS, batch_size=BATCH,
                                                 progress=False)}
        seconds = {name: [] for name in runs}
        for _ in range(5):  # interleaved, so that load from other processes favours no side
            for name, fn in runs.items():
                seconds[name].append(best_time(fn, repeat=1))
        best = {name: min(times) for name, times in seconds.items()}
        for name, what in (("same step", "reuse_fake=True: the script's step"),
                           ("algorithm 1", "default: fresh noise for G (2 G passes)")):
            rows.append({"what": f"DCGAN ngf=ndf={ngf}, batch {BATCH}, {what}", "steps/s": STEPS / best[name],
                         "reference steps/s": STEPS / best["reference"], "ratio": best[name] / best["reference"]})
    return rows
