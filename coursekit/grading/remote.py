"""The grader's side of the student's kernel: run the student's cells, call the student's functions.

The grader runs the trusted cells (the course notebook's setup and the test cells with their
hidden tests) in its own process. Each name that a solution cell defines is bound there to a
:class:`RemoteFunction`: calling it sends the arguments to the student's sandboxed process
(student.py), which runs the student's function on copies of them and sends back

* the result, as plain data (wire.py), or a :class:`RemoteObject` handle for anything else;
* what the call did to its arguments (tensor values and gradients, ``requires_grad`` flags,
  modules' train/eval modes, optimiser and random-generator states, list and dict contents),
  which the grader applies to its own objects, so a test can check that inputs were left
  alone or that a training step changed the weights; the same for what the test's hooks and
  callbacks recorded while the student's code ran (effects.py);
* when the result carries a gradient, a link that lets the grader's autograd differentiate
  through the call (:class:`_Bridge`: the backward pass also runs in the student's process).

The grader's random-number generators are copied to the student's process before each call
and never taken back from it; the checks always run with the grader's own modules, builtins
and helpers, which nothing in the student's process can reach.
"""
from __future__ import annotations

import builtins
import io
import os
import signal
import subprocess
import sys
import time

import cloudpickle
import numpy as np
import torch

from . import effects, wire

INTERRUPT_GRACE = 5.0  # seconds the student's kernel has to stop after an interrupt before it is killed
EXIT_GRACE = 5.0  # seconds a kernel whose pipe closed has to end on its own (its exit status is then reported)


class CellTimeoutError(TimeoutError):
    """The student's code ran past the per-cell time limit (it was interrupted)."""


class DeadKernelError(RuntimeError):
    """The student's kernel is gone: it crashed, exited, broke the protocol or was killed."""


class TransferError(RuntimeError):
    """An argument of a test's call could not be sent to the student's kernel (a grader limitation)."""


class StudentKernel:
    """The student's process, and the pipes to it (job.start_student_kernel starts one).

    ``argv_for(request_fd, reply_fd, control_fd)`` gives the command line (sandbox.wrap).

    ``deadline`` (a ``time.monotonic()`` value, or None) bounds every request; past it the
    student's code is interrupted, and killed if it does not stop within INTERRUPT_GRACE.
    """

    def __init__(self, argv_for, env: dict, log_path: str):
        req_r, self._req_w = os.pipe()
        self._rep_r, rep_w = os.pipe()
        ctl_r, self._ctl_w = os.pipe()
        self.log = open(log_path, "ab")
        argv = argv_for(req_r, rep_w, ctl_r)
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     pass_fds=(req_r, rep_w, ctl_r), start_new_session=True,
                                     preexec_fn=_die_with_parent)
        for fd in (req_r, rep_w, ctl_r):
            os.close(fd)
        self.deadline: float | None = None
        self.dead: str | None = None  # why, once it is
        self.s_rng = None  # the random state the student's process last left, and what we had sent
        self.sent_rng = None
        if self._read(time.monotonic() + 120) is None:
            raise self._die("the notebook's kernel did not start within 120 s", ours=True)

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop the student's process: asked to exit first (so its CPU time is counted), then killed."""
        if self.proc.poll() is None and not self.dead:
            try:
                wire.write_frame(self._req_w, {"op": "exit"})
                self.proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()
        for fd in (self._req_w, self._rep_r, self._ctl_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()

    def _die(self, why: str, ours: bool = False) -> DeadKernelError:
        """Mark the student's kernel dead (killing what is left of it); ``ours``: we killed it."""
        if self.dead is None:
            if not ours:  # its pipe closes a moment before it ends: wait for its own exit status
                try:
                    self.proc.wait(EXIT_GRACE)
                except subprocess.TimeoutExpired:
                    pass
            self.close()
            code = None if ours else self.proc.returncode
            if code is not None and code < 0:
                code = 128 - code  # killed by a signal; bwrap reports its child's death the same way
            if code and 128 < code <= 128 + 64:
                try:
                    why += f" (killed by signal {signal.Signals(code - 128).name})"
                except ValueError:
                    why += f" (exit status {code})"
            elif code:
                why += f" (exit status {code})"
            self.dead = why
        return DeadKernelError(self.dead)

    # ------------------------------------------------------------ requests

    def _send(self, header: dict, buffers=()) -> None:
        if self.dead:
            raise DeadKernelError(self.dead)
        try:
            wire.write_frame(self._req_w, header, buffers)
        except (BrokenPipeError, OSError):
            raise self._die("the notebook's kernel died") from None

    def _read(self, deadline: float | None):
        try:
            return wire.read_frame(self._rep_r, deadline)
        except TimeoutError:
            return None
        except EOFError:
            raise self._die("the notebook's kernel died") from None
        except wire.ProtocolError as err:
            raise self._die(f"the notebook's kernel broke the grader's protocol: {err}", ours=True) from None

    def request(self, header: dict, buffers=(), timeout_label: str | None = None) -> tuple[dict, list[bytes]]:
        """Send one request and wait for its reply, within the deadline (see the class)."""
        timeout_label = self.limit_label if timeout_label is None else timeout_label
        self._send(header, buffers)
        got = self._read(self.deadline)
        if got is not None:
            return got
        # past the deadline: interrupt, then kill
        try:
            os.write(self._ctl_w, b"i")
        except OSError:
            pass
        got = self._read(time.monotonic() + INTERRUPT_GRACE)
        if got is None:
            raise self._die(f"the notebook's kernel was killed: it ran past the time limit{timeout_label} "
                            f"and ignored the interrupt", ours=True)
        raise CellTimeoutError(f"stopped at the time limit{timeout_label}")

    def run(self, source: str, quiet: bool = False) -> tuple[list[dict], dict | None]:
        """Run a cell of the student's notebook: (outputs, error or None)."""
        header, _ = self.request({"op": "run", "source": source, "quiet": quiet})
        return header.get("outputs", []), header.get("error")

    def release(self) -> None:
        """Forget the autograd graphs of earlier calls (the grader's cell is over)."""
        if not self.dead:
            self.request({"op": "release"})

    # ------------------------------------------------------------ calls

    def call(self, target: tuple, args: tuple, kwargs: dict):
        """Call ``target`` in the student's process: ("N", name), ("H", handle) or ("B", builtin)."""
        tensors, tensor_ids = [], {}

        def tensor_index(t: torch.Tensor) -> int:
            if id(t) not in tensor_ids:
                tensor_ids[id(t)] = len(tensors)
                tensors.append(t)
            return tensor_ids[id(t)]

        class Pickler(cloudpickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, torch.Tensor):
                    return ("T", tensor_index(obj))
                if isinstance(obj, RemoteObject):
                    return ("H", object.__getattribute__(obj, "_handle"))
                if isinstance(obj, RemoteFunction):
                    return ("N", obj.__name__)
                return None

        tracked = effects.tracked_objects([*args, *kwargs.values()], opaque=(RemoteObject, RemoteFunction))
        rng = self._rng_to_send()
        buf = io.BytesIO()
        try:
            Pickler(buf, protocol=pickle_protocol()).dump((args, kwargs, tracked, rng))
        except Exception as err:  # noqa: BLE001 (any pickling failure means the same thing)
            raise TransferError(f"cannot send the arguments to the student's notebook: {type(err).__name__}: "
                                f"{err}") from None
        meta, data = _tensor_table(tensors, tensor_index)
        header = {"op": "call", "target": list(target), "tensors": meta, "grad_enabled": torch.is_grad_enabled(),
                  "default_dtype": str(torch.get_default_dtype()).replace("torch.", "")}
        reply, buffers = self.request(header, [buf.getvalue(), *data], timeout_label=self.limit_label)
        _replay_outputs(reply.get("outputs"))
        if reply.get("error"):
            raise _student_error(reply["error"])
        return self._finish_call(reply, buffers, tensors, tracked)

    limit_label = ""

    def _rng_to_send(self):
        mine = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": __import__("random").getstate()}
        # consecutive calls continue the student's stream, as in one process; once the grader
        # has drawn or seeded in between, the grader's state is sent
        if self.s_rng is not None and self.sent_rng is not None and torch.equal(mine["torch"], self.sent_rng):
            return self.s_rng
        self.sent_rng = mine["torch"].clone()
        return mine

    def _finish_call(self, reply: dict, buffers: list[bytes], tensors: list, tracked: list):
        handle = lambda number, type_name: RemoteObject(self, number, type_name)  # noqa: E731
        resolve = lambda tag, i: (tensors if tag == "rT" else tracked)[i]  # noqa: E731
        try:
            for entry in reply.get("writes", []):
                effects.apply_write(entry, tensors, tracked, wire.Decoder(buffers, resolve, handle))
            rng = wire.Decoder(buffers).decode(reply["rng"])
            self.s_rng = {"torch": rng["torch"], "numpy": tuple(rng["numpy"]), "random": rng["random"]}
            self.sent_rng = torch.get_rng_state().clone()
            grad = reply.get("grad")
            if grad and torch.is_grad_enabled():
                return self._bridged(reply["value"], buffers, grad, tensors, resolve, handle)
            return wire.Decoder(buffers, resolve, handle).decode(reply["value"])
        except (wire.ProtocolError, KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
            raise self._die(f"the notebook's kernel sent a reply the grader refuses: {type(err).__name__}: "
                            f"{err}", ours=True) from None

    def _bridged(self, value, buffers, grad: dict, tensors, resolve, handle):
        raw = {}
        wire.Decoder(buffers, resolve, handle, grad=lambda k, t: raw.setdefault(k, t)).decode(value)
        order = sorted(raw)
        inputs = [tensors[i] for i in grad["inputs"]]
        link = _Link(self, grad["call"], len(order))
        outs = _Bridge.apply(link, len(order), *[raw[k] for k in order], *inputs)
        bridged = dict(zip(order, outs if isinstance(outs, tuple) else (outs,)))
        return wire.Decoder(buffers, resolve, handle, grad=lambda k, t: bridged[k]).decode(value)

    def backward(self, call_id: int, grads: list) -> list:
        meta, data, present = [], [], []
        for g in grads:
            present.append(g is not None)
            g = torch.zeros(()) if g is None else g.detach()
            meta.append({"dtype": str(g.dtype).replace("torch.", ""), "shape": list(g.shape), "rg": False})
            data.append(wire.tensor_bytes(g))
        reply, buffers = self.request({"op": "backward", "call": call_id, "tensors": meta, "present": present}, data,
                                      timeout_label=self.limit_label)
        if reply.get("error"):
            raise _student_error(reply["error"])
        try:
            return [wire.Decoder(buffers).decode(g) for g in reply["grads"]]
        except (wire.ProtocolError, KeyError, TypeError) as err:
            raise self._die(f"the notebook's kernel sent a gradient the grader refuses: {err}", ours=True) from None


def pickle_protocol() -> int:
    return 5


def _die_with_parent() -> None:
    """In the new process, before it runs: be killed when the grader dies (Linux; bwrap does it too)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _tensor_table(tensors: list, tensor_index) -> tuple[list[dict], list[bytes]]:
    """Metadata and bytes of every tensor a call sends (gradients included, as more tensors)."""
    meta, data, i = [], [], 0
    while i < len(tensors):  # the list grows as gradients are added
        t = tensors[i]
        m = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "rg": bool(t.requires_grad),
             "param": isinstance(t, torch.nn.Parameter)}
        if m["dtype"] not in wire.TORCH_DTYPES or t.layout != torch.strided:
            raise TransferError(f"cannot send a {t.dtype} {t.layout} tensor to the student's notebook")
        if t.is_leaf and t.grad is not None:
            m["grad"] = tensor_index(t.grad)
        meta.append(m)
        data.append(wire.tensor_bytes(t))
        i += 1
    for owner, m in enumerate(meta):
        if m.get("grad", -1) >= 0:
            meta[m["grad"]]["of"] = owner
    return meta, data


def _replay_outputs(outputs) -> None:
    """Show, inside the grader's cell, what the student's function printed or displayed."""
    from .kernel import clean_mimebundle

    if not isinstance(outputs, list):
        return
    for out in outputs[:1000]:
        if not isinstance(out, dict):
            continue
        if out.get("output_type") == "stream" and isinstance(out.get("text"), str):
            (sys.stderr if out.get("name") == "stderr" else sys.stdout).write(out["text"])
        elif out.get("output_type") in ("display_data", "execute_result"):
            data = clean_mimebundle(out.get("data"))
            if data:
                from IPython.display import publish_display_data
                publish_display_data(data)


_SAFE_ERRORS = {name: cls for name, cls in vars(builtins).items()
                if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, OSError)}


def _student_error(error: dict) -> Exception:
    """The student's exception, rebuilt in the grader: a builtin of the same name, else a stand-in."""
    ename = str(error.get("ename", "Error"))[:100]
    evalue = str(error.get("evalue", ""))
    tb = error.get("traceback")
    if isinstance(tb, list) and tb:
        sys.stderr.write("".join(str(line) for line in tb)[-20_000:])
    cls = _SAFE_ERRORS.get(ename)
    if cls is None:
        cls = type(ename if ename.isidentifier() else "StudentError", (RuntimeError,), {})
    try:
        return cls(evalue)
    except Exception:  # noqa: BLE001 (exception classes whose constructor wants more)
        return RuntimeError(f"{ename}: {evalue}")


class _Link:
    """What the autograd bridge needs to run a backward pass in the student's process."""

    def __init__(self, kernel: StudentKernel, call_id: int, n_out: int):
        self.kernel, self.call_id, self.n_out = kernel, call_id, n_out


class _Bridge(torch.autograd.Function):
    """Outputs of a student's call that carry a gradient, tied to the grader's inputs.

    forward returns the values the student's process computed; backward sends the output
    gradients there and returns the gradients it computed for the inputs (first order only).
    """

    @staticmethod
    def forward(ctx, link, n_out, *outs_then_inputs):
        ctx.link = link
        ctx.n_in = len(outs_then_inputs) - n_out
        return tuple(o.clone() for o in outs_then_inputs[:n_out])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grad_outs):
        grads = ctx.link.kernel.backward(ctx.link.call_id, list(grad_outs))
        if len(grads) != ctx.n_in:
            raise RuntimeError("the student's kernel returned the wrong number of gradients")
        return (None, None, *([None] * ctx.link.n_out), *grads)


class RemoteFunction:
    """A name the student's notebook defines, called in the student's process."""

    def __init__(self, kernel: StudentKernel, name: str):
        self._kernel = kernel
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._kernel.call(("N", self.__name__), args, kwargs)

    def __repr__(self) -> str:
        return f"<the student's {self.__name__}>"


class RemoteObject:
    """A value that stayed in the student's process (an instance of the student's class, say).

    It can be called, and its attributes, items, length and elements read; results come back as
    plain values or further handles. It never answers comparisons, truth tests or conversions
    for the grader: ``==`` is identity, as for any object.
    """

    def __init__(self, kernel: StudentKernel, handle: int, type_name: str):
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_type_name", type_name)

    def _builtin(self, name, *args):
        return object.__getattribute__(self, "_kernel").call(("B", name), (self, *args), {})

    def __call__(self, *args, **kwargs):
        kernel = object.__getattribute__(self, "_kernel")
        return kernel.call(("H", object.__getattribute__(self, "_handle")), args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._builtin("getattr", name)

    def __setattr__(self, name, value):
        self._builtin("setattr", name, value)

    def __getitem__(self, key):
        return self._builtin("getitem", key)

    def __len__(self):
        n = self._builtin("len")
        if type(n) is not int:
            raise TypeError("len() of the student's object is not an int")
        return n

    def __iter__(self):
        items = self._builtin("list")
        if type(items) is not list:
            raise TypeError("the student's object did not iterate into a list")
        return iter(items)

    def __repr__(self):
        text = self._builtin("repr")
        return text if isinstance(text, str) else f"<{object.__getattribute__(self, '_type_name')} in the student's kernel>"

    __str__ = __repr__
