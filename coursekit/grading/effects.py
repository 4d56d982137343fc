"""What a call into the student's process did to its arguments: found, recorded, applied.

The student's function runs on copies of the grader's arguments (remote.py, student.py), so
whatever it changes must come back and be applied to the grader's own objects: tensor values
and gradients, ``requires_grad`` flags, modules' train/eval modes and plain attributes,
optimiser and random-generator states, list and dict contents. Both ends of that exchange are
here, so the format of a change (a "write") is defined in one place:

* the grader's side picks the objects whose changes come back (:func:`tracked_objects`)
  and applies each write the reply carries to its own object (:func:`apply_write`);
* the student's side records those objects before the call (:func:`snapshot`) and, after it,
  encodes what differs (:func:`writes_since`) as plain data (wire.py).
"""
from __future__ import annotations

import functools
import types

import torch

from . import wire

_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


# ---------------------------------------------------------------- the grader's side

def tracked_objects(roots: list, opaque: tuple = ()) -> list:
    """The mutable objects among the arguments whose changes come back (tensors travel apart).

    Besides the arguments themselves, what the grader's own callables hand over with them: the
    contents of a function's closure (and, for a function of the test cell, the globals it
    names), a bound method's object, a partial's arguments, and the hooks registered on a
    module. A check that records how the student's code ran (a forward hook, a callback that
    appends to a list) then sees its records, as it would in one process. Objects of the
    ``opaque`` types (handles to the student's own objects) are neither tracked nor walked.
    """
    seen, found = set(), []

    def walk(obj, depth):
        if id(obj) in seen or depth > 32 or isinstance(obj, (torch.Tensor, *opaque)):
            return
        seen.add(id(obj))
        if isinstance(obj, (list, dict)):
            found.append(obj)
            for item in (obj if isinstance(obj, list) else [*obj.keys(), *obj.values()]):
                walk(item, depth + 1)
        elif isinstance(obj, (tuple, set, frozenset)):
            for item in obj:
                walk(item, depth + 1)
        elif isinstance(obj, torch.nn.Module):
            found.append(obj)
            for m in obj.modules():
                for hooks in (getattr(m, name, None) for name in _HOOKS):
                    for hook in (hooks or {}).values():
                        walk(hook, depth + 1)
        elif isinstance(obj, (torch.optim.Optimizer, torch.Generator)):
            found.append(obj)
        elif isinstance(obj, types.FunctionType):
            for cell in obj.__closure__ or ():
                try:
                    walk(cell.cell_contents, depth + 1)
                except ValueError:  # an empty cell
                    pass
            if obj.__module__ in ("__main__", None):  # shipped by value: its globals travel too
                for name in obj.__code__.co_names:
                    if name in obj.__globals__:
                        walk(obj.__globals__[name], depth + 1)
        elif isinstance(obj, types.MethodType):
            walk(obj.__self__, depth + 1)
            walk(obj.__func__, depth + 1)
        elif isinstance(obj, functools.partial):
            walk(obj.func, depth + 1)
            walk(obj.args, depth + 1)
            walk(obj.keywords, depth + 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType)) \
                and type(obj).__module__ not in ("builtins",) and not type(obj).__module__.startswith("torch"):
            found.append(obj)  # an object of the test's own class (a callable one too)
            for value in vars(obj).values():
                walk(value, depth + 1)

    for item in roots:
        walk(item, 0)
    return found

def apply_write(entry: dict, tensors: list, tracked: list, dec: wire.Decoder) -> None:
    """Apply one change the student's call made to an argument to the grader's own object."""
    kind = entry["k"]
    if kind == "T":
        t = tensors[entry["i"]]
        if "data" in entry:
            new = dec.decode(entry["data"])
            with torch.no_grad():
                if new.shape == t.shape and new.dtype == t.dtype:
                    t.copy_(new)
                else:
                    t.data = new
        if "rg" in entry and t.is_leaf and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(bool(entry["rg"]))
        if "grad" in entry and t.is_leaf:
            t.grad = dec.decode(entry["grad"])
        return
    obj = tracked[entry["j"]]
    if kind == "list":
        obj[:] = [dec.decode(v) for v in entry["items"]]
    elif kind == "dict":
        obj.clear()
        obj.update({dec.decode(k): dec.decode(v) for k, v in entry["items"]})
    elif kind == "module":
        modules = list(obj.modules())
        for m, mode, attrs in zip(modules, entry["modes"], entry["attrs"]):
            m.training = bool(mode)
            for name, value in attrs.items():
                _set_plain_attr(m, name, dec.decode(value))
    elif kind == "optim":
        obj.load_state_dict(dec.decode(entry["state"]))
    elif kind == "gen":
        obj.set_state(dec.decode(entry["state"]))
    elif kind == "attrs":
        for name, value in entry["attrs"].items():
            _set_plain_attr(obj, name, dec.decode(value))


def _set_plain_attr(obj, name: str, value) -> None:
    if not (isinstance(name, str) and name.isidentifier() and not name.startswith("_")):
        raise ValueError(f"refused attribute name {name!r}")
    if value is not None and type(value) not in (bool, int, float, str):
        raise ValueError(f"attribute {name} must be a plain value")
    if isinstance(getattr(type(obj), name, None), property):
        return
    setattr(obj, name, value)


# ---------------------------------------------------------------- the student's side

def _simple_attrs(obj) -> dict:
    return {k: v for k, v in vars(obj).items()
            if not k.startswith("_") and k != "training" and (v is None or type(v) in (bool, int, float, str))}


def snapshot(tensors: list, tracked: list) -> tuple:
    """The state of a call's tensors and tracked objects before the student's code runs."""
    snap_t = [(t.detach().clone(), t.requires_grad, t.grad, None if t.grad is None else t.grad.detach().clone())
              for t in tensors]
    snap_o = []
    for obj in tracked:
        if isinstance(obj, list):
            snap_o.append(list(obj))
        elif isinstance(obj, dict):
            snap_o.append(list(obj.items()))
        elif isinstance(obj, torch.nn.Module):
            snap_o.append(([m.training for m in obj.modules()], [_simple_attrs(m) for m in obj.modules()]))
        elif isinstance(obj, torch.Generator):
            snap_o.append(obj.get_state().clone())
        elif isinstance(obj, torch.optim.Optimizer):
            snap_o.append(None)
        else:
            snap_o.append(_simple_attrs(obj) if hasattr(obj, "__dict__") else None)
    return snap_t, snap_o


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


def writes_since(tensors, meta, tracked, snap, enc: wire.Encoder) -> list:
    """What the call changed in the grader's objects, as plain data."""
    snap_t, snap_o = snap
    writes = []
    for i, (t, m, (data, rg, grad, grad_data)) in enumerate(zip(tensors, meta, snap_t)):
        if m.get("of", -1) >= 0:
            continue  # a gradient: written back with its tensor
        entry = {}
        if not _same(t.detach(), data):
            entry["data"] = enc._tensor(t.detach())
        if t.requires_grad != rg:
            entry["rg"] = t.requires_grad
        if t.grad is not grad or (grad is not None and not _same(t.grad.detach(), grad_data)):
            entry["grad"] = ["n"] if t.grad is None else enc._tensor(t.grad.detach())
        if entry:
            writes.append({"k": "T", "i": i, **entry})
    for j, (obj, before) in enumerate(zip(tracked, snap_o)):
        if isinstance(obj, list):
            if len(obj) != len(before) or any(a is not b for a, b in zip(obj, before)):
                writes.append({"k": "list", "j": j, "items": [enc.encode(v) for v in obj]})
        elif isinstance(obj, dict):
            items = list(obj.items())
            if len(items) != len(before) or any(a[0] is not b[0] or a[1] is not b[1] for a, b in zip(items, before)):
                writes.append({"k": "dict", "j": j, "items": [[enc.encode(k), enc.encode(v)] for k, v in items]})
        elif isinstance(obj, torch.nn.Module):
            modes = [m.training for m in obj.modules()]
            attrs = [_simple_attrs(m) for m in obj.modules()]
            if modes != before[0] or attrs != before[1]:
                writes.append({"k": "module", "j": j, "modes": modes,
                               "attrs": [{k: enc.encode(v) for k, v in a.items()} for a in attrs]})
        elif isinstance(obj, torch.Generator):
            state = obj.get_state()
            if not torch.equal(state, before):
                writes.append({"k": "gen", "j": j, "state": enc._tensor(state)})
        elif isinstance(obj, torch.optim.Optimizer):
            writes.append({"k": "optim", "j": j, "state": enc.encode(obj.state_dict())})
        elif before is not None:
            attrs = _simple_attrs(obj)
            if attrs != before:
                writes.append({"k": "attrs", "j": j, "attrs": {k: enc.encode(v) for k, v in attrs.items()}})
    return writes
