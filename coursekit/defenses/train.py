"""Adversarial training from the command line, on one process or many (DDP).

    python -m coursekit.defenses.train --recipe fast --epochs 10 --out robust.pt
    torchrun --nproc_per_node=2 -m coursekit.defenses.train --recipe fast --out robust.pt

Launched by ``torchrun`` (which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)
it trains with torch.distributed: backend nccl with one GPU per process when CUDA is present,
gloo on CPU otherwise. Every process builds the same model from the same seed and wraps it in
DistributedDataParallel; the training digits are split into WORLD_SIZE equal shards, each
process takes ``--batch-size / WORLD_SIZE`` of its shard per step, and DDP averages the
gradients, so one step sees the same global batch size as a single process would. The inner
attack runs on each process's local copy of the model (``model.module``), in eval mode.
Rank 0 evaluates on the held-out digits, prints, and writes ``--out``; at the end every
buffer (batch-norm statistics) is copied from rank 0, so all ranks hold identical weights.

Started with plain ``python -m``, the same code runs as a single process.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist

from ..config import seed_all
from ..data import mnist
from ..models import ARCHITECTURES, build
from ..models.pretrained import save_checkpoint
from .adversarial import ATTACKS, LOSSES, RECIPES, adversarial_training


def distributed_env() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when launched by torchrun, else None."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))


def shard(x: torch.Tensor, y: torch.Tensor, rank: int, world: int):
    """Rank ``rank``'s share of (x, y): every ``world``-th item from ``rank``, all shards equal."""
    n = len(x) // world * world     # drop the remainder so every rank takes as many steps
    return x[rank:n:world], y[rank:n:world]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m coursekit.defenses.train", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="fast", choices=sorted(RECIPES),
                   help="preset from coursekit.defenses.RECIPES; the options below override it "
                        "(default: fast, Wong et al. 2020)")
    p.add_argument("--attack", choices=ATTACKS, help="inner attack")
    p.add_argument("--eps", type=float, help="L∞ radius ε of the inner attack (pixels in [0, 1])")
    p.add_argument("--alpha", type=float, help="attack step size at the full ε")
    p.add_argument("--steps", type=int, help="PGD steps of the inner attack")
    p.add_argument("--loss", choices=LOSSES, help="adv: L(x_adv); mixed: L(x) + λL(x_adv); "
                                                  "alp: adversarial logit pairing")
    p.add_argument("--lam", type=float, help="λ of the mixed and alp losses")
    p.add_argument("--eps-ramp", type=float, help="share of training over which ε grows from 0")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate of Adam's one-cycle schedule")
    p.add_argument("--batch-size", type=int, help="global batch size (split across processes)")
    p.add_argument("--arch", default="mnist-cnn-small", choices=sorted(ARCHITECTURES),
                   help="architecture (default: mnist-cnn-small)")
    p.add_argument("--n-train", type=int, default=None, help="train on the first N digits only")
    p.add_argument("--n-val", type=int, default=500,
                   help="held-out digits (the end of the training split) evaluated every epoch")
    p.add_argument("--eval-steps", type=int, default=10, help="PGD steps of the per-epoch check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--out", type=Path, default=None,
                   help="write the trained model here (a coursekit checkpoint, loadable with "
                        "coursekit.models.load_checkpoint) and its history beside it as .json")
    p.add_argument("--save-every-rank", action="store_true",
                   help="each rank also writes OUT with suffix .rank<r>.pt (to compare ranks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def recipe_from_args(args: argparse.Namespace):
    """The chosen preset with every option given on the command line applied (validated)."""
    fields = {"attack": args.attack, "eps": args.eps, "alpha": args.alpha, "steps": args.steps,
              "loss": args.loss, "lam": args.lam, "eps_ramp": args.eps_ramp,
              "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size}
    return replace(RECIPES[args.recipe], **{k: v for k, v in fields.items() if v is not None})


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    recipe = recipe_from_args(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    env = distributed_env()
    rank, world, local_rank = env or (0, 1, 0)
    if env is not None:
        if recipe.batch_size % world:
            raise ValueError(f"--batch-size ({recipe.batch_size}) must be a multiple of the "
                             f"number of processes ({world})")
        use_cuda = torch.cuda.is_available()
        dist.init_process_group("nccl" if use_cuda else "gloo")
        device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(device)
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    x, y = mnist("train").tensors()
    x_val, y_val = x[-args.n_val:].to(device), y[-args.n_val:].to(device)
    n = len(x) - args.n_val if args.n_train is None else args.n_train
    if not 0 < n <= len(x) - args.n_val:
        raise ValueError(f"--n-train must be in 1..{len(x) - args.n_val}, got {args.n_train}")
    x, y = shard(x[:n], y[:n], rank, world)

    seed_all(args.seed)                       # the same initial weights on every rank
    model = build(args.arch).to(device)
    if env is not None:
        model = torch.nn.parallel.DistributedDataParallel(model)
        torch.manual_seed(args.seed + rank)   # but each rank its own random starts and dropout
        recipe = replace(recipe, batch_size=recipe.batch_size // world)

    def report(record):
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}),
              flush=True)

    is_main = rank == 0
    history = adversarial_training(
        model, x.to(device), y.to(device), recipe,
        x_val=x_val if is_main else None, y_val=y_val if is_main else None,
        eval_steps=args.eval_steps, seed=args.seed, progress=is_main and not args.no_progress,
        on_epoch_end=report if is_main else None)

    net = model.module if env is not None else model
    if env is not None:
        for buf in net.buffers():             # batch-norm statistics moved on each rank's last batch
            dist.broadcast(buf, src=0)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if is_main:
            save_checkpoint(net, args.arch, {}, args.out)
            meta = {"recipe": {k: v for k, v in asdict(recipe).items() if not callable(v)},
                    "world_size": world, "history": history}
            meta["recipe"]["batch_size"] = recipe.batch_size * world
            args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        if args.save_every_rank:
            save_checkpoint(net, args.arch, {}, args.out.with_suffix(f".rank{rank}.pt"))
    if env is not None:
        dist.barrier()
        dist.destroy_process_group()
    return history


if __name__ == "__main__":
    main()
