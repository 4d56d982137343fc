"""PGD-40 on 1,000 digits ("mnist-cnn"); APGD-CE, APGD-T, Square, AutoAttack on 200 ("mnist-cnn-pgd").

PGD-40 (ε = 0.3, α = 0.01, no random start) on 1,000 MNIST test digits against "mnist-cnn",
side by side in one run, on the same model, images and settings: coursekit's ``pgd``, a bare
loop (forward, ``torch.autograd.grad``, signed step, projection: the least any PGD can do),
torchattacks' PGD, ART's ProjectedGradientDescentPyTorch and foolbox's LinfPGD. Runs are
interleaved (round-robin) and each method's best of ``REPEAT`` rounds is kept, so drifts
in machine load hit every method alike. ``ratio`` = coursekit time / that method's time
(< 1: coursekit is faster); ``max |Δ|`` is the largest pixel difference from coursekit's
output (0 for implementations of exactly the same update).

Then AutoAttack's attacks at their standard budgets (ε = 0.3; APGD-CE 100 steps, APGD-T 9
targets × 100 steps, Square 5,000 queries, and the three in turn on the survivors), coursekit
against torchattacks' APGD, APGDT, Square and MultiAttack of the three, on the first
``N_AA`` test digits of the adversarially trained "mnist-cnn-pgd", where most digits survive
and every attack runs its full budget. Interleaved the same way; ``ratio`` = coursekit /
torchattacks (goal ≤ 1), best of ``REPEAT_AA`` rounds after a warm-up round on 10 digits (single
rounds of 100 digits, 1-15 s a call, differed by up to 50% minutes apart on a quiet 2-core
machine). Beside it, the ratio of each round's pair of back-to-back runs, its median and its
range over the rounds: a ratio whose range straddles 1 is parity, not a win. Random starts
differ, so the outputs differ: the accuracy after each attack is shown instead (the agreement on 500 digits is ``python -m tools.attack_agreement``).
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from coursekit.attacks import apgd, apgd_t, autoattack, pgd, square
from coursekit.data import mnist
from coursekit.models import load_pretrained

N, EPS, ALPHA, STEPS, REPEAT = 1000, 0.3, 0.01, 40, 3
N_AA, QUERIES, REPEAT_AA = 200, 5000, 5


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


def _autoattack_methods(model, x, y):
    """(attack, implementation) -> a call, for coursekit and (when installed) torchattacks."""
    g = torch.Generator().manual_seed(0)
    methods = {
        ("APGD-CE", "coursekit"): lambda: apgd(model, x, y, EPS, 100, generator=g),
        ("APGD-T", "coursekit"): lambda: apgd_t(model, x, y, EPS, 100, 9, generator=g),
        ("Square", "coursekit"): lambda: square(model, x, y, EPS, QUERIES, generator=g),
        ("AutoAttack", "coursekit"): lambda: autoattack(model, x, y, EPS, queries=QUERIES).x_adv,
    }
    try:
        import torchattacks as ta
    except ImportError:
        return methods
    atks = {"APGD-CE": ta.APGD(model, eps=EPS, steps=100, loss="ce"),
            "APGD-T": ta.APGDT(model, eps=EPS, steps=100, n_classes=10),
            "Square": ta.Square(model, eps=EPS, n_queries=QUERIES)}
    atks["AutoAttack"] = ta.MultiAttack([atks["APGD-CE"], atks["APGD-T"], atks["Square"]])
    for name, atk in atks.items():
        methods[(name, "torchattacks")] = lambda atk=atk: atk(x, y)
    return methods


def run_autoattack(device) -> list[dict]:
    """The AutoAttack part: interleaved rounds; per (attack, implementation) the best time, and
    per attack the ratio coursekit / torchattacks of each round (the two ran back to back, so a
    drift in the machine's speed cancels in it): its median and its range over the rounds."""
    model = load_pretrained("mnist-cnn-pgd", device=device)
    x, y = mnist("test").tensors(N_AA, device=device)
    for fn in _autoattack_methods(model, x[:10], y[:10]).values():  # warm-up, not timed
        fn()
    methods = _autoattack_methods(model, x, y)
    times, accuracy = {k: [] for k in methods}, {}
    for _ in range(REPEAT_AA):
        for key, fn in methods.items():
            _sync(device)
            start = time.perf_counter()
            x_adv = fn()
            _sync(device)
            times[key].append(time.perf_counter() - start)
            with torch.no_grad():
                accuracy[key] = (model(x_adv).argmax(1) == y).float().mean().item()
    rows = []
    for attack, impl in methods:
        ours, theirs = times[(attack, "coursekit")], times[(attack, impl)]
        per_round = sorted(a / b for a, b in zip(ours, theirs))
        rows.append({"method": f"{impl} {attack}", "seconds": min(theirs),
                     "ratio": min(ours) / min(theirs),
                     "round ratio median": statistics.median(per_round),
                     "round ratio range": f"{per_round[0]:.3g}-{per_round[-1]:.3g}",
                     "accuracy after": accuracy[(attack, impl)]})
    return rows


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
    return rows + run_autoattack(device)


if __name__ == "__main__":
    from benchmarks._timing import print_table
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print_table(__doc__.strip().splitlines()[0], run())
