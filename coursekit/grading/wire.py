"""The messages between the grader and the student's sandboxed kernel, and how values cross.

The two directions are not alike:

* **grader → student**: the grader's own objects (arguments of a call: tensors, models,
  optimisers, the test's lambdas and classes) are pickled with cloudpickle. Only the
  student's process unpickles them, and the grader is trusted, so that is safe.
* **student → grader**: values come back as *plain data* only, in a tagged tree that
  :func:`decode` rebuilds without running any code of the sender's choosing: ``None``,
  booleans, numbers, strings, bytes, lists, tuples, dicts, sets, fractions, tensors and NumPy
  arrays of numeric dtypes, a few torch value types (``Size``, ``dtype``, ``device``,
  ``return_types``). Everything else stays in the student's process and is represented by a
  *handle* (a number). The decoder enforces limits on size, depth and item count, so a hostile
  reply can cost the grader an error, not its memory.

A message on the pipe is a frame: 8 bytes of length, 4 bytes of header length, a JSON header,
then the binary buffers (tensor and array data) that the header refers to by index.
"""
from __future__ import annotations

import json
import os
import select
import struct
import time
from fractions import Fraction

import numpy as np
import torch

MAX_MESSAGE = 256 * 2**20  # bytes in one reply from the student's kernel
MAX_DEPTH = 64              # nesting of containers in a value
MAX_ITEMS = 1_000_000       # tree nodes in one value
MAX_INT_DIGITS = 4300       # Python's own limit for int(str)

TORCH_DTYPES = {name: getattr(torch, name) for name in (
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
    "uint8", "int8", "int16", "int32", "int64", "bool")}
NUMPY_KINDS = set("biufc")  # bool, int, unsigned, float, complex: never object or void


class ProtocolError(RuntimeError):
    """A frame or a value that breaks the rules: too big, malformed, or of a refused type."""


# ---------------------------------------------------------------- frames on a pipe

def write_frame(fd: int, header: dict, buffers: list[bytes] = ()) -> None:
    """Write one message (a JSON-able ``header`` and its binary ``buffers``) to ``fd``."""
    head = json.dumps({**header, "buffers": [len(b) for b in buffers]}, separators=(",", ":")).encode()
    total = 4 + len(head) + sum(len(b) for b in buffers)
    chunks = [struct.pack(">QI", total, len(head)), head, *buffers]
    view = memoryview(b"".join(chunks))
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    parts, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_frame(fd: int, deadline: float | None = None, limit: int = MAX_MESSAGE) -> tuple[dict, list[bytes]]:
    """Read one message from ``fd``: (header, buffers).

    Raises TimeoutError when ``deadline`` (a ``time.monotonic()`` value) passes before the whole
    frame arrived, EOFError when the pipe closes, ProtocolError for a frame over ``limit`` bytes
    or one that is not well formed.
    """
    total, head_len = struct.unpack(">QI", _read_exact(fd, 12, deadline))
    if total > limit or head_len > total - 4:
        raise ProtocolError(f"a message of {total:,} bytes (the limit is {limit:,})")
    body = _read_exact(fd, total - 4, deadline)
    try:
        header = json.loads(body[:head_len])
        sizes = header.pop("buffers")
        if not (isinstance(sizes, list) and all(isinstance(s, int) and s >= 0 for s in sizes)
                and sum(sizes) == total - 4 - head_len):
            raise ValueError("buffer sizes do not add up")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ProtocolError(f"a malformed message ({err})") from None
    buffers, at = [], head_len
    for size in sizes:
        buffers.append(body[at:at + size])
        at += size
    return header, buffers


# ---------------------------------------------------------------- tensors as bytes

def tensor_bytes(t: torch.Tensor) -> bytes:
    """The raw bytes of a CPU tensor, in row-major order."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def tensor_from_bytes(dtype_name: str, shape, data: bytes) -> torch.Tensor:
    """A new tensor of the allowed dtype ``dtype_name`` and ``shape`` holding ``data``."""
    dtype = TORCH_DTYPES.get(dtype_name)
    if dtype is None:
        raise ProtocolError(f"tensor dtype {dtype_name!r} is not accepted")
    if not (isinstance(shape, list) and all(isinstance(s, int) and 0 <= s for s in shape) and len(shape) <= 32):
        raise ProtocolError(f"bad tensor shape {shape!r}")
    numel = 1
    for s in shape:
        numel *= s
    itemsize = torch.empty((), dtype=dtype).element_size()
    if numel * itemsize != len(data):
        raise ProtocolError(f"a tensor of shape {shape} and dtype {dtype_name} cannot hold {len(data)} bytes")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape)


# ---------------------------------------------------------------- plain values: encode (student side)

class Encoder:
    """Turns a value into the tagged tree plus buffers; what is not plain becomes a handle.

    ``refs`` maps ``id(obj)`` of objects the grader sent (its tensors and tracked objects) to
    a reference tag, so an argument handed back comes back as the grader's own object.
    ``keep`` stores an object that cannot travel and returns its handle number.
    ``grad_outputs`` collects the tensors that carry a gradient (see remote.py).
    """

    def __init__(self, refs: dict | None = None, keep=None, track_grad: bool = False):
        self.refs = refs or {}
        self.keep = keep
        self.track_grad = track_grad
        self.buffers: list[bytes] = []
        self.grad_outputs: list[torch.Tensor] = []

    def _buffer(self, data: bytes) -> int:
        self.buffers.append(data)
        return len(self.buffers) - 1

    def encode(self, value, depth: int = 0):
        if depth > MAX_DEPTH:
            return self._handle(value)
        ref = self.refs.get(id(value))
        if ref is not None:
            return list(ref)
        if value is None:
            return ["n"]
        if value is Ellipsis:
            return ["e"]
        if isinstance(value, bool):
            return ["b", value]
        if isinstance(value, (np.generic,)) and value.dtype.kind in NUMPY_KINDS:
            return ["np", value.dtype.str, self._buffer(value.tobytes())]
        if isinstance(value, int):
            return ["i", str(int(value))]
        if isinstance(value, float):
            return ["f", float.hex(float(value))]
        if isinstance(value, complex):
            return ["c", float.hex(value.real), float.hex(value.imag)]
        if isinstance(value, str):
            return ["s", str(value)]
        if isinstance(value, (bytes, bytearray)):
            return ["by", self._buffer(bytes(value))]
        if isinstance(value, Fraction):
            return ["fr", str(value.numerator), str(value.denominator)]
        if isinstance(value, torch.Tensor):
            return self._tensor(value)
        if isinstance(value, np.ndarray) and value.dtype.kind in NUMPY_KINDS:
            return ["A", value.dtype.str, list(value.shape), self._buffer(np.ascontiguousarray(value).tobytes())]
        if isinstance(value, torch.Size):
            return ["sz", [int(s) for s in value]]
        if isinstance(value, torch.dtype):
            return ["dt", str(value).replace("torch.", "")]
        if isinstance(value, torch.device):
            return ["dev", str(value)]
        if isinstance(value, slice):
            return ["sl", [self.encode(v, depth + 1) for v in (value.start, value.stop, value.step)]]
        if isinstance(value, range):
            return ["rg", value.start, value.stop, value.step]
        module = type(value).__module__
        if module == "torch.return_types" and isinstance(value, tuple):
            return ["rt", type(value).__name__, [self.encode(v, depth + 1) for v in value]]
        if type(value) in (list, tuple, set, frozenset) or (isinstance(value, tuple) and hasattr(value, "_fields")):
            tag = {list: "l", set: "set", frozenset: "fs"}.get(type(value), "t")
            return [tag, [self.encode(v, depth + 1) for v in value]]
        if isinstance(value, dict) and type(value).__module__ in ("builtins", "collections"):
            return ["d", [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]]
        return self._handle(value)

    def _tensor(self, t: torch.Tensor):
        if t.layout != torch.strided or str(t.dtype).replace("torch.", "") not in TORCH_DTYPES or t.is_quantized:
            return self._handle(t)
        grad = -1
        if self.track_grad and t.requires_grad:
            self.grad_outputs.append(t)
            grad = len(self.grad_outputs) - 1
        return ["T", str(t.dtype).replace("torch.", ""), list(t.shape), self._buffer(tensor_bytes(t)), grad]

    def _handle(self, value):
        if self.keep is None:
            raise ProtocolError(f"a value of type {type(value).__name__} cannot be sent as plain data")
        return ["h", self.keep(value), type(value).__qualname__[:200]]


# ---------------------------------------------------------------- plain values: decode (grader side)

class Decoder:
    """Rebuilds a tagged tree from an untrusted sender, refusing anything but plain data.

    ``resolve(tag, index)`` returns the grader's object for a reference (``rT``/``rO``),
    ``handle(number, type_name)`` the grader's proxy for a handle, and ``grad(index, tensor)``
    may replace a tensor that carries a gradient (the autograd bridge).
    """

    def __init__(self, buffers: list[bytes], resolve=None, handle=None, grad=None):
        self.buffers = buffers
        self.resolve = resolve
        self.handle = handle
        self.grad = grad
        self.items = 0

    def _buffer(self, index):
        if not isinstance(index, int) or not 0 <= index < len(self.buffers):
            raise ProtocolError(f"bad buffer index {index!r}")
        return self.buffers[index]

    def decode(self, node, depth: int = 0):
        self.items += 1
        if self.items > MAX_ITEMS or depth > MAX_DEPTH:
            raise ProtocolError(f"a value with more than {MAX_ITEMS:,} items or {MAX_DEPTH} levels")
        if not isinstance(node, list) or not node or not isinstance(node[0], str):
            raise ProtocolError(f"malformed value node {str(node)[:80]!r}")
        tag, args = node[0], node[1:]
        try:
            return self._decode(tag, args, depth)
        except ProtocolError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, OverflowError) as err:
            raise ProtocolError(f"malformed {tag!r} value: {err}") from None

    def _int(self, text) -> int:
        if not isinstance(text, str) or len(text) > MAX_INT_DIGITS:
            raise ProtocolError("an integer too long or not a string")
        return int(text)

    def _decode(self, tag, args, depth):
        sub = lambda n: self.decode(n, depth + 1)  # noqa: E731
        if tag == "n":
            return None
        if tag == "e":
            return Ellipsis
        if tag == "b":
            if not isinstance(args[0], bool):
                raise ProtocolError("bad bool")
            return args[0]
        if tag == "i":
            return self._int(args[0])
        if tag == "f":
            return float.fromhex(args[0])
        if tag == "c":
            return complex(float.fromhex(args[0]), float.fromhex(args[1]))
        if tag == "s":
            if not isinstance(args[0], str):
                raise ProtocolError("bad str")
            return args[0]
        if tag == "by":
            return bytes(self._buffer(args[0]))
        if tag == "fr":
            return Fraction(self._int(args[0]), self._int(args[1]))
        if tag in ("l", "t", "set", "fs"):
            if not isinstance(args[0], list):
                raise ProtocolError("bad container")
            items = [sub(n) for n in args[0]]
            return {"l": list, "t": tuple, "set": set, "fs": frozenset}[tag](items)
        if tag == "d":
            return {sub(k): sub(v) for k, v in args[0]}
        if tag == "T":
            dtype, shape, buf, grad = args
            t = tensor_from_bytes(dtype, shape, self._buffer(buf))
            if isinstance(grad, int) and grad >= 0 and self.grad is not None:
                return self.grad(grad, t)
            return t
        if tag == "A":
            dtype = np.dtype(args[0])
            shape = args[1]
            if dtype.kind not in NUMPY_KINDS or not all(isinstance(s, int) and s >= 0 for s in shape):
                raise ProtocolError(f"array dtype {args[0]!r} or shape {shape!r} is not accepted")
            data = self._buffer(args[2])
            if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(data):
                raise ProtocolError("array size does not match its data")
            return np.frombuffer(bytearray(data), dtype=dtype).reshape(shape)
        if tag == "np":
            dtype = np.dtype(args[0])
            if dtype.kind not in NUMPY_KINDS:
                raise ProtocolError(f"numpy scalar dtype {args[0]!r} is not accepted")
            return np.frombuffer(bytearray(self._buffer(args[1])), dtype=dtype)[0]
        if tag == "sz":
            if not all(type(s) is int and s >= 0 for s in args[0]):
                raise ProtocolError("bad torch.Size")
            return torch.Size(args[0])
        if tag == "dt":
            if args[0] not in TORCH_DTYPES:
                raise ProtocolError(f"dtype {args[0]!r} is not accepted")
            return TORCH_DTYPES[args[0]]
        if tag == "dev":
            return torch.device(str(args[0]))
        if tag == "sl":
            return slice(*[sub(n) for n in args[0]])
        if tag == "rg":
            return range(*[self._int(str(a)) for a in args])
        if tag == "rt":
            cls = getattr(torch.return_types, str(args[0]), None)
            if not (isinstance(cls, type) and issubclass(cls, tuple)):
                raise ProtocolError(f"torch.return_types.{args[0]} does not exist")
            return cls([sub(n) for n in args[1]])
        if tag in ("rT", "rO"):
            if self.resolve is None:
                raise ProtocolError("a reference where none can be")
            return self.resolve(tag, args[0])
        if tag == "h":
            if self.handle is None or not isinstance(args[0], int):
                raise ProtocolError("a handle where none can be")
            return self.handle(args[0], str(args[1])[:200])
        raise ProtocolError(f"unknown value tag {tag!r}")


def encode_plain(value) -> tuple[list, list[bytes]]:
    """(tree, buffers) of a value that must be plain data (raises ProtocolError otherwise)."""
    enc = Encoder()
    return enc.encode(value), enc.buffers


def decode_plain(tree, buffers: list[bytes]):
    """The value of a tree made by :func:`encode_plain`, from an untrusted sender."""
    return Decoder(buffers).decode(tree)
