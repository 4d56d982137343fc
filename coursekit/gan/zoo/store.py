"""The loss zoo's results file, ``data/results/gan_zoo.json``: where it is, writing it (atomically,
after every run, so a long job can be resumed), loading a finished one, and G's samples stored
as base64 text.

Neighbours in ``coursekit/gan/zoo/``: the experiment that fills the file is in ``experiment.py``, the
command that runs it in ``cli.py``.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import torch

from ...config import data_dir

COMMAND = "python -m coursekit.gan.zoo"


def default_path() -> Path:
    """Where the full results are kept: ``data/results/gan_zoo.json``."""
    return data_dir() / "results" / "gan_zoo.json"


def _encode(x: torch.Tensor, kind: str) -> dict:
    """A small tensor as base64 text: images as uint8 in [0, 255], points as float16."""
    x = x.detach().cpu()
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8) if kind == "images" else x.to(torch.float16)
    return {"shape": list(x.shape), "dtype": str(x.dtype).removeprefix("torch."),
            "base64": base64.b64encode(x.numpy().tobytes()).decode()}


def decode_samples(entry: dict) -> torch.Tensor:
    """Samples stored by :func:`run_zoo` back as a float32 tensor (images in [0, 1])."""
    raw = bytearray(base64.b64decode(entry["base64"]))
    x = torch.frombuffer(raw, dtype=getattr(torch, entry["dtype"])).view(entry["shape"]).float()
    return x / 255 if entry["dtype"] == "uint8" else x


def _write(results: dict, out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(out)


def load_results(path: Path | None = None) -> dict:
    """The stored zoo and tips (default ``data/results/gan_zoo.json``)."""
    path = Path(path or default_path())
    if not path.is_file():
        raise FileNotFoundError(f"no zoo results at {path}; `{COMMAND}` computes them")
    results = json.loads(path.read_text())
    if not results.get("complete"):
        raise ValueError(f"{path} is an unfinished run; `{COMMAND}` resumes it")
    return results
