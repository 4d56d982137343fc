"""The student's side of the grader: the sandboxed process that runs the student's code.

:func:`serve` is the student's process. It is started inside the sandbox (sandbox.py) and
only ever talks to the grader over two pipes: it runs the student's cells when told (in a
:class:`~coursekit.grading.kernel.Kernel`), and it answers calls to the student's functions
(remote.py) with plain values (wire.py) and what the call changed in its arguments
(effects.py). It never sees the hidden tests, the gradebook or anyone else's work, and nothing
it computes is believed except as the student's answer.
"""
from __future__ import annotations

import io
import os
import pickle
import random
import signal
import sys
import threading
import traceback

import numpy as np
import torch

from . import effects, wire
from .kernel import MAX_OUTPUT, Kernel


def apply_limits(limits: dict) -> None:
    """Lower this process's resource limits (soft and hard); it can never raise them again."""
    import resource

    names = {"cpu": resource.RLIMIT_CPU, "memory": resource.RLIMIT_AS, "processes": resource.RLIMIT_NPROC,
             "file_size": resource.RLIMIT_FSIZE, "open_files": resource.RLIMIT_NOFILE, "core": resource.RLIMIT_CORE}
    for name, value in limits.items():
        if value is None:
            continue
        which = names[name]
        soft, hard = resource.getrlimit(which)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        # the CPU limit's soft value signals first (SIGXCPU), the hard one kills
        resource.setrlimit(which, (value, value + 5 if name == "cpu" and hard == resource.RLIM_INFINITY else value))


class _Student:
    """State of the student's process: the kernel, handles, and saved autograd graphs."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.handles: dict[int, object] = {}
        self.graphs: dict[int, tuple] = {}
        self.next_id = 1

    def keep(self, obj) -> int:
        for number, kept in self.handles.items():
            if kept is obj:
                return number
        number = self.next_id
        self.next_id += 1
        self.handles[number] = obj
        return number

    def lookup(self, kind: str, key):
        if kind == "N":
            if key not in self.kernel.user_ns:
                raise NameError(f"name {key!r} is not defined")
            return self.kernel.user_ns[key]
        if kind == "H":
            return self.handles[key]
        raise wire.ProtocolError(f"unknown reference {kind!r}")


BUILTINS = {
    "getattr": getattr, "setattr": setattr, "getitem": lambda obj, key: obj[key], "len": len,
    "list": list, "repr": repr, "str": str,
}


def _rng_states():
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()}


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["random"])


def build_tensors(meta: list[dict], buffers: list[bytes]) -> list[torch.Tensor]:
    """The tensors of a call from their metadata and data (the grader's side sends both)."""
    tensors = []
    for m, data in zip(meta, buffers):
        t = wire.tensor_from_bytes(m["dtype"], m["shape"], data)
        if m.get("param"):
            t = torch.nn.Parameter(t, requires_grad=m["rg"])
        elif m["rg"]:
            t.requires_grad_(True)
        tensors.append(t)
    for m, t in zip(meta, tensors):
        if m.get("grad", -1) >= 0:
            t.grad = tensors[m["grad"]]
    return tensors


class _Interrupter:
    """Turns a byte on the control pipe into SIGINT, but only while student code runs."""

    def __init__(self, fd: int):
        self.busy = False
        threading.Thread(target=self._watch, args=(fd,), daemon=True).start()

    def _watch(self, fd: int) -> None:
        while True:
            try:
                if not os.read(fd, 1):
                    return
            except OSError:
                return
            if self.busy:
                os.kill(os.getpid(), signal.SIGINT)


def serve(request_fd: int, reply_fd: int, control_fd: int, limits: dict, max_output: int = MAX_OUTPUT,
          sandboxed: bool = False) -> None:
    """The student's process: answer the grader's requests until told to stop."""
    apply_limits(limits)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file over the size limit fails to write, no more
    torch.set_num_threads(1)
    main_pid = os.getpid()
    interrupter = _Interrupter(control_fd)
    student = _Student(Kernel(max_output, inline_figures=True))
    kernel = student.kernel

    def after_student_code():
        if os.getpid() != main_pid:  # a process the student's code forked: it must not answer
            os._exit(0)
        if sandboxed:
            _reap_strays()

    def reply(header, buffers=()):
        if os.getpid() != main_pid:
            os._exit(0)
        wire.write_frame(reply_fd, header, buffers)

    reply({"ready": True})
    while True:
        try:
            header, buffers = wire.read_frame(request_fd, limit=2**40)
        except (EOFError, OSError):
            os._exit(0)
        op = header.get("op")
        try:
            if op == "run":
                interrupter.busy = True
                try:
                    outputs, error = kernel.run_cell(header["source"])
                finally:
                    interrupter.busy = False
                after_student_code()
                reply({"outputs": outputs if not header.get("quiet") else [], "error": error})
            elif op == "call":
                out, bufs = _call(student, header, buffers, interrupter)
                after_student_code()
                reply(out, bufs)
            elif op == "backward":
                out, bufs = _backward(student, header, buffers)
                reply(out, bufs)
            elif op == "release":
                student.graphs.clear()
                reply({})
            elif op == "exit":
                os._exit(0)
            else:
                reply({"error": {"ename": "ProtocolError", "evalue": f"unknown request {op!r}"}})
        except KeyboardInterrupt:
            reply({"error": {"ename": "KeyboardInterrupt", "evalue": "interrupted"}, "outputs": []})


def _reap_strays() -> None:
    """Kill every other process of this sandbox that the student's code left running (a fork bomb).

    Only inside the sandbox's own process namespace, where kill(-1) reaches no one else.
    """
    try:
        os.kill(-1, signal.SIGKILL)  # all but init and ourselves
    except (ProcessLookupError, PermissionError):
        return
    while True:  # our own children are zombies until waited for, and zombies count against the limit
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _call(student: _Student, header: dict, buffers: list[bytes], interrupter: _Interrupter):
    kernel = student.kernel
    meta = header["tensors"]
    tensors = build_tensors(meta, buffers[1:])

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            kind, key = pid
            return tensors[key] if kind == "T" else student.lookup(kind, key)

    recorder = kernel.start_recording()
    value, error, grad_info = None, None, None
    try:
        interrupter.busy = True
        try:
            args, kwargs, tracked, rng = Unpickler(io.BytesIO(buffers[0])).load()
            kind, key = header["target"]
            snap = effects.snapshot(tensors, tracked)
            if kind == "V":  # the value of a name, not a call
                value = student.lookup("N", key)
            else:
                fn = BUILTINS[key] if kind == "B" else student.lookup(kind, key)
                if rng is not None:
                    _set_rng_states(rng)
                torch.set_default_dtype(wire.TORCH_DTYPES[header["default_dtype"]])
                with torch.set_grad_enabled(header["grad_enabled"]):
                    value = fn(*args, **kwargs)
        finally:
            interrupter.busy = False
    except BaseException as err:  # noqa: BLE001 (the student's error, whatever it is, goes back)
        error = {"ename": type(err).__name__, "evalue": str(err)[:20_000],
                 "traceback": traceback.format_exception(type(err), err, err.__traceback__)[-20:]}
    outputs = kernel.stop_recording()
    refs = {id(t): ("rT", i) for i, t in enumerate(tensors)}
    if error is None:
        refs.update({id(o): ("rO", j) for j, o in enumerate(tracked)})
    enc = wire.Encoder(refs, keep=student.keep, track_grad=header["grad_enabled"])
    out = {"outputs": outputs, "error": error}
    if error is None:
        out["value"] = enc.encode(value)
        out["writes"] = effects.writes_since(tensors, meta, tracked, snap, enc)
        out["rng"] = enc.encode(_rng_states())
        if enc.grad_outputs:
            inputs = [i for i, m in enumerate(meta) if m["rg"] and m.get("of", -1) < 0 and tensors[i].requires_grad]
            call_id = student.next_id
            student.next_id += 1
            student.graphs[call_id] = (enc.grad_outputs, [tensors[i] for i in inputs])
            grad_info = {"call": call_id, "inputs": inputs}
    out["grad"] = grad_info
    return out, enc.buffers


def _backward(student: _Student, header: dict, buffers: list[bytes]):
    outputs, inputs = student.graphs[header["call"]]
    grads = build_tensors(header["tensors"], buffers)
    pairs = [(o, g) for o, g, present in zip(outputs, grads, header["present"]) if present]
    enc = wire.Encoder()
    try:
        result = torch.autograd.grad([o for o, _ in pairs], inputs, [g for _, g in pairs],
                                     allow_unused=True, retain_graph=True)
    except BaseException as err:  # noqa: BLE001
        return {"error": {"ename": type(err).__name__, "evalue": str(err)[:20_000]}}, []
    return {"grads": [enc.encode(g) for g in result]}, enc.buffers


if __name__ == "__main__":  # python -m coursekit.grading.student REQUEST_FD REPLY_FD CONTROL_FD LIMITS_JSON
    import json

    from coursekit.grading import student as _self  # the importable module, so pickles find its names

    _self.serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5]),
                sys.argv[6] == "sandboxed")
