"""The pretrained registry: model files in ``data/pretrained/`` checked against sha256 sums.

``data/pretrained/manifest.json`` records, for each name, the file, its sha256, the
architecture and its arguments, the figures the file is tested for, and the command that
rebuilds it. :func:`load_pretrained` refuses a file whose checksum or contents do not match.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from ..config import pretrained_dir
from .registry import build

MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest(folder: Path | None = None) -> dict:
    """The manifest as a dict {name: entry}; an empty dict if there is none yet."""
    path = Path(folder or pretrained_dir()) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def available() -> list[str]:
    """Names that :func:`load_pretrained` accepts."""
    return sorted(read_manifest())


def rebuild_command(name: str) -> str:
    return f"python -m coursekit.pretrain {name}"


def save_checkpoint(model: nn.Module, arch: str, kwargs: dict, path: Path) -> None:
    """Save ``model`` with what is needed to rebuild it: {arch, kwargs, state_dict}."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"arch": arch, "kwargs": dict(kwargs), "state_dict": state}, path)


def load_checkpoint(path: Path, arch: str | None = None, name: str | None = None) -> nn.Module:
    """Rebuild the model stored at ``path``; if ``arch`` is given the file must hold that one.

    The architecture is built (its layers draw initial weights) under a forked RNG, since the
    stored weights replace them: loading a model leaves the caller's random numbers alone."""
    path = Path(path)
    how = f"rebuild it with `{rebuild_command(name)}`" if name else "save it again"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}; {how}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        found = ckpt["arch"]
        with torch.random.fork_rng(devices=[]):   # build on the CPU; no CUDA state to save
            model = build(found, **ckpt["kwargs"])
    except Exception as err:  # unpickling errors come in many types
        raise ValueError(f"{path} is not a readable coursekit checkpoint ({err}); {how}") from err
    if arch is not None and found != arch:
        raise ValueError(f"{path} holds a {found!r} model, expected {arch!r}; {how}")
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit the {found!r} architecture: {err}; {how}") from err
    return model.eval()


def load_pretrained(name: str, device=None) -> nn.Module:
    """The shipped model ``name`` (e.g. "mnist-cnn"), in eval mode, its file checked by sha256."""
    manifest = read_manifest()
    if name not in manifest:
        raise ValueError(f"name must be a shipped pretrained model, got unknown {name!r}; "
                         f"available: {sorted(manifest)}")
    entry = manifest[name]
    path = pretrained_dir() / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained file missing: {path}; rebuild it with `{rebuild_command(name)}`"
        )
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise ValueError(
            f"{path} is corrupt or was changed: its sha256 is {digest}, the manifest records "
            f"{entry['sha256']}. Restore it with `git checkout -- data/pretrained/{entry['file']}` "
            f"or rebuild it with `{rebuild_command(name)}`"
        )
    return load_checkpoint(path, arch=entry["arch"], name=name).to(device)


def register(name: str, model: nn.Module, arch: str, kwargs: dict, metrics: dict,
             folder: Path | None = None) -> Path:
    """Save ``model`` as ``<name>.pt`` and record it in the manifest (used by coursekit.pretrain)."""
    folder = Path(folder or pretrained_dir())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pt"
    save_checkpoint(model, arch, kwargs, path)
    manifest = read_manifest(folder)
    manifest[name] = {
        "file": path.name, "sha256": sha256(path), "arch": arch, "kwargs": dict(kwargs),
        "metrics": metrics, "command": rebuild_command(name),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def register_extra(name: str, path: Path, folder: Path | None = None) -> None:
    """Record a companion file of model ``name`` (e.g. its training history) with its sha256."""
    folder = Path(folder or pretrained_dir())
    manifest = read_manifest(folder)
    manifest[name].setdefault("extras", {})[Path(path).name] = sha256(path)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def load_extra(name: str, filename: str):
    """A companion file of pretrained model ``name``, checked against its recorded sha256."""
    entry = read_manifest().get(name)
    if entry is None or filename not in entry.get("extras", {}):
        raise ValueError(f"{filename!r} is not a recorded file of pretrained model {name!r}")
    path = pretrained_dir() / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; rebuild it with `{rebuild_command(name)}`")
    if sha256(path) != entry["extras"][filename]:
        raise ValueError(f"{path} does not match its recorded sha256; restore it with git or "
                         f"rebuild it with `{rebuild_command(name)}`")
    return torch.load(path, map_location="cpu", weights_only=True)
