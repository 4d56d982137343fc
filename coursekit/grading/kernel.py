"""Running notebook cells, and the student's side of the grader (the sandboxed kernel).

:class:`Kernel` is an IPython shell that runs a cell and records what it shows as notebook
outputs (streams, displays, the result, the error), with the text capped per cell. Both sides
use it: the grader runs the trusted cells in one, the student's process runs the student's
cells in another.

:func:`serve` is the student's process. It is started inside the sandbox (sandbox.py) and
only ever talks to the grader over two pipes: it runs the student's cells when told, and it
answers calls to the student's functions (remote.py) with plain values (wire.py). It never
sees the hidden tests, the gradebook or anyone else's work, and nothing it computes is
believed except as the student's answer.
"""
from __future__ import annotations

import ast
import functools
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

from . import wire

MAX_OUTPUT = 100_000   # characters of text a cell may show
MAX_DISPLAYS = 20      # figures and other displays a cell may show
MAX_DISPLAY_BYTES = 4 * 2**20
SAFE_MIMETYPES = ("text/plain", "image/png", "image/jpeg")  # never HTML or JavaScript from a student


# ---------------------------------------------------------------- recording a cell's outputs

class Recorder:
    """The outputs of one cell as nbformat dicts, text capped at ``max_chars``."""

    def __init__(self, max_chars: int = MAX_OUTPUT, max_displays: int = MAX_DISPLAYS):
        self.max_chars, self.max_displays = max_chars, max_displays
        self.outputs: list[dict] = []
        self.chars = self.dropped_chars = self.displays = self.dropped_displays = 0

    def stream(self, name: str, text: str) -> None:
        keep = text[:max(0, self.max_chars - self.chars)]
        self.chars += len(keep)
        self.dropped_chars += len(text) - len(keep)
        if not keep:
            return
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += keep
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": keep})

    def display(self, output_type: str, data: dict, metadata: dict | None = None, count=None) -> None:
        data = clean_mimebundle(data)
        if not data:
            return
        if self.displays >= self.max_displays:
            self.dropped_displays += 1
            return
        self.displays += 1
        out = {"output_type": output_type, "data": data, "metadata": {}}
        if output_type == "execute_result":
            out["execution_count"] = count
        self.outputs.append(out)

    def error(self, ename: str, evalue: str, tb: list[str]) -> None:
        tb = [str(line)[:20_000] for line in tb][-50:]
        self.outputs.append({"output_type": "error", "ename": ename, "evalue": evalue[:20_000], "traceback": tb})

    def clear(self) -> None:
        self.outputs.clear()

    def finish(self) -> list[dict]:
        notes = []
        if self.dropped_chars:
            notes.append(f"{self.dropped_chars:,} more characters were printed (limit {self.max_chars:,} per cell)")
        if self.dropped_displays:
            notes.append(f"{self.dropped_displays} more figures or displays were shown "
                         f"(limit {self.max_displays} per cell)")
        if notes:
            self.outputs.append({"output_type": "stream", "name": "stdout",
                                 "text": f"\n[output cut by the grader: {'; '.join(notes)}]\n"})
        return self.outputs


def clean_mimebundle(data) -> dict:
    """Keep only plain text and PNG/JPEG images (base64 text), each under the size limit."""
    import base64
    out = {}
    if not isinstance(data, dict):
        return out
    for mime in SAFE_MIMETYPES:
        value = data.get(mime)
        if value is None:
            continue
        if isinstance(value, (bytes, bytearray)):
            value = base64.b64encode(value).decode() if mime != "text/plain" else value.decode(errors="replace")
        if isinstance(value, list):
            value = "".join(str(v) for v in value)
        if not isinstance(value, str) or len(value) > MAX_DISPLAY_BYTES:
            continue
        if mime != "text/plain":
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                continue
        out[mime] = value
    return out


class _Stream(io.TextIOBase):
    """sys.stdout / sys.stderr while a cell runs: text goes to the current recorder."""

    def __init__(self, kernel: "Kernel", name: str):
        self.kernel, self.name = kernel, name

    def write(self, text) -> int:
        text = str(text)
        self.kernel.recorder.stream(self.name, text)
        return len(text)

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return "utf-8"


@functools.lru_cache(maxsize=1)
def _make_shell_class():
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            self.shell.kernel.recorder.display("display_data", data, metadata)

        def clear_output(self, wait=False):
            self.shell.kernel.recorder.clear()

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self.shell.kernel.recorder.display("execute_result", format_dict, md_dict, self.prompt_count)

        def finish_displayhook(self):
            pass

    class Shell(InteractiveShell):
        displayhook_class = Hook
        display_pub_class = Publisher
        kernel = None

        def showtraceback(self, *args, **kwargs):
            if os.getpid() != self.kernel.pid:  # a child the cell forked (a fork bomb's): leave, no traceback
                os._exit(0)
            return super().showtraceback(*args, **kwargs)

        def _showtraceback(self, etype, evalue, stb):
            self.kernel.recorder.error(etype.__name__, str(evalue), list(stb))

        def enable_gui(self, gui=None):
            pass

    return Shell


class Kernel:
    """An in-process IPython shell whose cells' outputs are recorded (see :class:`Recorder`)."""

    def __init__(self, max_output: int = MAX_OUTPUT, inline_figures: bool = False):
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.enabled = False
        config.InteractiveShell.colors = "nocolor"
        self.max_output = max_output
        self.pid = os.getpid()
        self.recorder = Recorder(max_output)
        shell_class = _make_shell_class()
        shell_class.clear_instance()  # one kernel per process; a second one replaces the first
        self.shell = shell_class.instance(config=config)
        self.shell.kernel = self
        self.inline_figures = inline_figures
        if inline_figures:
            self.shell.enable_matplotlib("inline")

    @property
    def user_ns(self) -> dict:
        return self.shell.user_ns

    def start_recording(self) -> Recorder:
        self.recorder = Recorder(self.max_output)
        self._saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Stream(self, "stdout"), _Stream(self, "stderr")
        return self.recorder

    def stop_recording(self) -> list[dict]:
        sys.stdout, sys.stderr = self._saved
        return self.recorder.finish()

    def run_cell(self, source: str) -> tuple[list[dict], dict | None]:
        """Run one cell; return (its outputs, its error as {"ename", "evalue"} or None)."""
        recorder = self.start_recording()
        try:
            result = self.shell.run_cell(source, store_history=True)
        except KeyboardInterrupt:  # arrived outside the cell's own code (compiling, a hook)
            recorder.error("KeyboardInterrupt", "", [])
            result = None
        finally:
            outputs = self.stop_recording()
        if not self.inline_figures and "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        errors = [o for o in outputs if o["output_type"] == "error"]
        if errors:
            return outputs, {"ename": errors[-1]["ename"], "evalue": errors[-1]["evalue"]}
        if result is not None and not result.success:
            err = result.error_before_exec or result.error_in_exec
            return outputs, {"ename": type(err).__name__, "evalue": str(err)}
        return outputs, None


def context_statements(source: str) -> str:
    """The imports, function and class definitions at the top level of a cell (its context).

    The student's process runs these from the visible part of each test cell, so a name that a
    test cell imports or defines exists for the student's later code, as it did when they ran
    the notebook; nothing in it calls the student's code.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return "\n".join(ast.get_source_segment(source, node) or "" for node in tree.body if isinstance(node, keep))


# ---------------------------------------------------------------- the student's process

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


def _simple_attrs(obj) -> dict:
    return {k: v for k, v in vars(obj).items()
            if not k.startswith("_") and k != "training" and (v is None or type(v) in (bool, int, float, str))}


def _snapshot(tensors: list, tracked: list) -> tuple:
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


def _writes(tensors, meta, tracked, snap, enc: wire.Encoder) -> list:
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
            snap = _snapshot(tensors, tracked)
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
        out["writes"] = _writes(tensors, meta, tracked, snap, enc)
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


if __name__ == "__main__":  # python -m coursekit.grading.kernel REQUEST_FD REPLY_FD CONTROL_FD LIMITS_JSON
    import json

    from coursekit.grading import kernel as _self  # the importable module, so pickles find its names

    _self.serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5]),
                sys.argv[6] == "sandboxed")
