"""Classifier throughput: MNIST loading, inference and training, beside a bare PyTorch loop.

The reference is the loop every PyTorch tutorial writes (forward, cross-entropy, backward,
Adam step) on the same network and batches; ``ratio`` = coursekit time / reference time.
The last rows time the evaluation batch: coursekit's default (``EVAL_BATCH``) against 1,000
images per forward pass, the same numbers either way (checked on each row).
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from benchmarks._timing import best_time
from coursekit.data import mnist
from coursekit.data.mnist import _load
from coursekit.models import MnistCNN, load_pretrained
from coursekit.metrics.features import extract_features
from coursekit.train import EVAL_BATCH, predict, train_classifier


def _bare_train(model, x, y, batch_size):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for idx in torch.randperm(len(x)).split(batch_size):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


@torch.no_grad()
def _bare_predict(model, x, batch_size):
    model.eval()
    return torch.cat([model(xb) for xb in x.split(batch_size)])


def run() -> list[dict]:
    rows = []
    _load.cache_clear()
    start = time.perf_counter()
    mnist("test")
    rows.append({"what": "load MNIST test split (10,000)", "seconds": time.perf_counter() - start})

    x, y = mnist("test").tensors()
    model = load_pretrained("mnist-cnn")
    ours = best_time(lambda: predict(model, x, batch_size=1000))
    ref = best_time(lambda: _bare_predict(model, x, 1000))
    rows.append({"what": "mnist-cnn inference, 10,000 images", "seconds": ours,
                 "images/s": len(x) / ours, "reference s": ref, "ratio": ours / ref})

    xs, ys = x[:4096], y[:4096]
    torch.manual_seed(0)
    ours = best_time(lambda: train_classifier(MnistCNN(), xs, ys, epochs=1, batch_size=128,
                                              progress=False), repeat=2)
    ref = best_time(lambda: _bare_train(MnistCNN(), xs, ys, 128), repeat=2)
    rows.append({"what": "mnist-cnn training, 1 epoch of 4,096 images", "seconds": ours,
                 "images/s": len(xs) / ours, "reference s": ref, "ratio": ours / ref})
    rows += _eval_batch_rows(model, x)
    return rows


@torch.no_grad()
def _eval_batch_rows(model, x) -> list[dict]:
    G = load_pretrained("mnist-dcgan").eval()
    z = G.sample_z(len(x), torch.Generator().manual_seed(0))
    jobs = {"mnist-cnn logits": lambda b: predict(model, x, batch_size=b),
            "mnist-dcgan G(z)": lambda b: predict(G, z, batch_size=b),
            "FID features (mnist-cnn)": lambda b: extract_features(x, batch_size=b, progress=False).features}
    rows = []
    for what, job in jobs.items():
        if not torch.equal(job(EVAL_BATCH), job(1000)):
            raise AssertionError(f"{what}: batches of {EVAL_BATCH} and 1,000 disagree")
        ours, ref = best_time(lambda: job(EVAL_BATCH)), best_time(lambda: job(1000))
        rows.append({"what": f"{what}, {len(x):,} images, batches of {EVAL_BATCH} vs 1,000", "seconds": ours,
                     "images/s": len(x) / ours, "reference s": ref, "ratio": ours / ref})
    return rows
