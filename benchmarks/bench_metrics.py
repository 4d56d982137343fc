"""FID between 10,000 and 10,000 MNIST digits (features included), beside torchmetrics.

Both sides use the same feature module (the 128-d layer of the shipped "mnist-cnn", see
coursekit.metrics.features), the same images on the same device and batches of 500, timed alternately (best of 4):
coursekit's ``metrics.fid`` against torchmetrics' ``FrechetInceptionDistance(feature=...)``.
A second row times the distance alone on the same features against pytorch-fid's
``calculate_frechet_distance`` (scipy sqrtm). ``ratio`` = coursekit time / reference time.
"""
from __future__ import annotations

import numpy as np
import torch

import coursekit as ck
from benchmarks._timing import best_time
from coursekit import metrics as M
from coursekit.data import mnist

BATCH = 500


def _torchmetrics_fid(body, a, b):
    from torchmetrics.image.fid import FrechetInceptionDistance
    metric = FrechetInceptionDistance(feature=body, normalize=True,
                                      input_img_size=(1, 28, 28)).to(a.device)
    with torch.no_grad():
        for batch in a.split(BATCH):
            metric.update(batch, real=True)
        for batch in b.split(BATCH):
            metric.update(batch, real=False)
    return metric.compute().item()


def _pytorch_fid_distance(fa, fb):
    from pytorch_fid.fid_score import calculate_frechet_distance
    fa, fb = fa.double().cpu().numpy(), fb.double().cpu().numpy()
    return calculate_frechet_distance(fa.mean(0), np.cov(fa, rowvar=False),
                                      fb.mean(0), np.cov(fb, rowvar=False))


def run() -> list[dict]:
    device = ck.get_device()
    a = mnist("train").tensors(10_000)[0].to(device)
    b = mnist("test").tensors(10_000)[0].to(device)
    body = M.feature_network("mnist", device).body
    ours_value = M.fid(a, b, batch_size=BATCH, progress=False)
    ref_value = _torchmetrics_fid(body, a, b)
    # Interleaved, alternating which goes first, so that load from other processes and warm
    # caches favour neither side; best of 4 each.
    def timed(fn):
        return best_time(fn, repeat=1, warmup=0)
    ours_fn = lambda: M.fid(a, b, batch_size=BATCH, progress=False)  # noqa: E731
    ref_fn = lambda: _torchmetrics_fid(body, a, b)  # noqa: E731
    ours_times, ref_times = [], []
    for i in range(4):
        if i % 2:
            ref_times.append(timed(ref_fn)), ours_times.append(timed(ours_fn))
        else:
            ours_times.append(timed(ours_fn)), ref_times.append(timed(ref_fn))
    ours, ref = min(ours_times), min(ref_times)
    rows = [{"what": f"FID 10k vs 10k MNIST images, features included ({device.type})",
             "seconds": ours, "FID": ours_value, "reference": "torchmetrics", "reference s": ref,
             "reference FID": ref_value, "ratio": ours / ref}]

    fa = M.extract_features(a, batch_size=BATCH, progress=False).features
    fb = M.extract_features(b, batch_size=BATCH, progress=False).features
    ours = best_time(lambda: M.frechet_distance(fa, fb), repeat=5)
    ref = best_time(lambda: _pytorch_fid_distance(fa, fb), repeat=5)
    rows.append({"what": "Fréchet distance alone, 128-d features of 10k + 10k", "seconds": ours,
                 "FID": M.frechet_distance(fa, fb), "reference": "pytorch-fid", "reference s": ref,
                 "reference FID": float(_pytorch_fid_distance(fa, fb)), "ratio": ours / ref})
    return rows
