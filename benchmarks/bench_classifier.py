"""Classifier throughput: MNIST loading, inference and training, beside a bare PyTorch loop.

The reference is the loop every PyTorch tutorial writes (forward, cross-entropy, backward,
Adam step) on the same network and batches; ``ratio`` = coursekit time / reference time.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from benchmarks._timing import best_time
from coursekit.data import mnist
from coursekit.data.mnist import _load
from coursekit.models import MnistCNN, load_pretrained
from coursekit.train import predict, train_classifier


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
    return rows
