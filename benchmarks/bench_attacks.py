"""PGD-40 (ε = 0.3, α = 0.01, no random start) on 1,000 MNIST test digits against "mnist-cnn".

Side by side in one run, on the same model, images and settings: coursekit's ``pgd``, a bare
loop (forward, ``torch.autograd.grad``, signed step, projection: the least any PGD can do),
torchattacks' PGD, ART's ProjectedGradientDescentPyTorch and foolbox's LinfPGD. Runs are
interleaved (round-robin) and each method's best of ``REPEAT`` rounds is kept, so drifts
in machine load hit every method alike. ``ratio`` = coursekit time / that method's time
(< 1: coursekit is faster); ``max |Δ|`` is the largest pixel difference from coursekit's
output (0 for implementations of exactly the same update).
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from coursekit.attacks import pgd
from coursekit.data import mnist
from coursekit.models import load_pretrained

N, EPS, ALPHA, STEPS, REPEAT = 1000, 0.3, 0.01, 40, 3


def bare_pgd(model, x, y, eps=EPS, alpha=ALPHA, steps=STEPS):
    """The plain loop every tutorial writes (the model already in eval mode)."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


def _methods(model, x, y):
    methods = {
        "coursekit pgd": lambda: pgd(model, x, y, EPS, ALPHA, STEPS, random_start=False),
        "bare forward/backward loop": lambda: bare_pgd(model, x, y),
    }
    try:
        import torchattacks
        atk = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=False)
        methods["torchattacks PGD"] = lambda: atk(x, y)
    except ImportError:
        pass
    try:
        from art.attacks.evasion import ProjectedGradientDescentPyTorch
        from art.estimators.classification import PyTorchClassifier
        clf = PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 28, 28),
                                nb_classes=10, clip_values=(0.0, 1.0),
                                device_type="gpu" if x.is_cuda else "cpu")
        art_pgd = ProjectedGradientDescentPyTorch(clf, norm="inf", eps=EPS, eps_step=ALPHA,
                                                  max_iter=STEPS, num_random_init=0,
                                                  batch_size=len(x), verbose=False)
        x_np, y_np = x.cpu().numpy(), y.cpu().numpy()
        methods["ART ProjectedGradientDescentPyTorch"] = \
            lambda: torch.from_numpy(art_pgd.generate(x_np, y_np)).to(x.device)
    except ImportError:
        pass
    try:
        import foolbox as fb
        fmodel = fb.PyTorchModel(model, bounds=(0, 1), device=x.device)
        fb_pgd = fb.attacks.LinfPGD(abs_stepsize=ALPHA, steps=STEPS, random_start=False)
        methods["foolbox LinfPGD"] = lambda: fb_pgd(fmodel, x, y, epsilons=EPS)[1]
    except ImportError:
        pass
    return methods


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run() -> list[dict]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_pretrained("mnist-cnn", device=device)
    x, y = mnist("test").tensors(N, device=device)
    methods = _methods(model, x, y)
    best = {name: float("inf") for name in methods}
    outputs = {}
    for name, fn in methods.items():          # warm-up, and the outputs to compare
        outputs[name] = fn()
    for _ in range(REPEAT):
        for name, fn in methods.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    ours = best["coursekit pgd"]
    rows = []
    for name in methods:
        with torch.no_grad():
            acc = (model(outputs[name]).argmax(1) == y).float().mean().item()
        rows.append({
            "method": name, "seconds": best[name], "images/s": N * STEPS / best[name],
            "ratio": ours / best[name],
            "max |Δ|": (outputs[name].float() - outputs["coursekit pgd"]).abs().max().item(),
            "accuracy after": acc,
        })
    return rows


if __name__ == "__main__":
    from benchmarks._timing import print_table
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print_table(__doc__.strip().splitlines()[0], run())
