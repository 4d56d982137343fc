"""The student's kernel seen from the grader (coursekit.grading.remote, student, effects, wire).

One sandboxed student kernel serves the module (about 5 s to start). Each test defines what
it needs in the student's kernel, calls it from here and checks what a test cell would see:
values, the changes a call makes to its arguments, gradients through the call, handles,
random streams, errors, time limits; and that the grader refuses malformed replies.
The reference throughout is what the same code does when run here, in one process.
"""
import math
import random
import time
from fractions import Fraction

import numpy as np
import pytest
import torch

from coursekit.grading import job, remote, sandbox, wire

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    iso = sandbox.isolation(unsafe_no_sandbox=True)  # the protocol is the same without a sandbox
    kernel = job.start_student_kernel(iso, tmp_path_factory.mktemp("student"))
    kernel.limit_label = " of 5 s"
    yield kernel
    kernel.close()


def define(kernel, source):
    kernel.deadline = time.monotonic() + 60
    outputs, error = kernel.run(source)
    assert error is None, (error, outputs)
    return outputs


def fn(kernel, name, timeout=60):
    kernel.deadline = time.monotonic() + timeout
    return remote.RemoteFunction(kernel, name)


def test_cells_record_outputs_and_errors(student):
    outputs, error = student.run("print('hi')\nimport sys; print('warn', file=sys.stderr)\n6 * 7")
    assert error is None
    assert [o["output_type"] for o in outputs] == ["stream", "stream", "execute_result"]
    assert outputs[0]["text"] == "hi\n" and outputs[1]["name"] == "stderr"
    assert outputs[2]["data"]["text/plain"] == "42"
    outputs, error = student.run("1 / 0")
    assert error["ename"] == "ZeroDivisionError" and outputs[-1]["output_type"] == "error"


def test_output_is_capped_per_cell_with_a_note(student):
    outputs, _ = student.run("print('x' * 5_000_000)")
    text = "".join(o.get("text", "") for o in outputs)
    assert len(text) < 100_000 + 500
    assert "output cut by the grader: 4,900,001 more characters were printed (limit 100,000 per cell)" in text


def test_html_and_javascript_outputs_are_dropped(student):
    outputs, _ = student.run("from IPython.display import HTML, Javascript, display\n"
                             "display(HTML('<script>alert(1)</script>'))\ndisplay(Javascript('alert(2)'))")
    for out in outputs:
        assert set(out.get("data", {})) <= {"text/plain"}, out


def test_plain_values_come_back_as_they_were(student):
    define(student, "import torch, numpy as np, collections\nfrom fractions import Fraction\n"
                    "def values():\n"
                    "    P = collections.namedtuple('P', 'a b')\n"
                    "    return {'i': 2**70, 'f': float('nan'), 'inf': -float('inf'), 'c': 1 + 2j, 's': 'é',"
                    " 'b': b'\\x00\\x01', 'fr': Fraction(-8, 5), 'none': None, 'bool': True, 'list': [1, (2, 3)],"
                    " 'set': {1, 2}, 't': torch.arange(6.0).view(2, 3), 'half': torch.ones(2, dtype=torch.bfloat16),"
                    " 'a': np.arange(4, dtype=np.int16), 'np': np.float32(1.5), 'size': torch.Size([2, 3]),"
                    " 'dtype': torch.float64, 'nt': P(1, 2), 'sort': torch.tensor([3, 1]).sort(), 'empty': torch.empty(0, 3)}")
    got = fn(student, "values")()
    assert got["i"] == 2**70 and math.isnan(got["f"]) and got["inf"] == -math.inf and got["c"] == 1 + 2j
    assert got["s"] == "é" and got["b"] == b"\x00\x01" and got["fr"] == Fraction(-8, 5) and type(got["fr"]) is Fraction
    assert got["none"] is None and got["bool"] is True and got["list"] == [1, (2, 3)] and got["set"] == {1, 2}
    assert torch.equal(got["t"], torch.arange(6.0).view(2, 3)) and got["half"].dtype == torch.bfloat16
    assert np.array_equal(got["a"], np.arange(4, dtype=np.int16)) and got["a"].dtype == np.int16
    assert got["np"] == 1.5 and got["size"] == torch.Size([2, 3]) and got["dtype"] is torch.float64
    assert got["nt"] == (1, 2) and torch.equal(got["sort"].values, torch.tensor([1, 3]))
    assert got["empty"].shape == (0, 3)


def test_inputs_changed_in_place_are_changed_here(student):
    define(student, "def bump(x, items, table):\n    x.add_(1)\n    items.append(x[0].clone())\n"
                    "    table['n'] = len(items)\n    return x")
    x, items, table = torch.zeros(3), [], {}
    out = fn(student, "bump")(x, items, table)
    assert out is x  # an argument handed back is the grader's own object
    assert torch.equal(x, torch.ones(3)) and len(items) == 1 and torch.equal(items[0], torch.tensor(1.0))
    assert table == {"n": 1}
    # a view writes through to its base, as in one process
    base = torch.zeros(4)
    fn(student, "bump")(base[:2], [], {})
    assert torch.equal(base, torch.tensor([1.0, 1.0, 0.0, 0.0]))


def test_a_training_step_comes_back_whole(student):
    define(student, "import torch\nimport torch.nn.functional as F\n"
                    "def step(model, opt, x, y):\n    model.train()\n    loss = F.cross_entropy(model(x), y)\n"
                    "    opt.zero_grad(); loss.backward(); opt.step()\n    model.eval()\n    return loss.item()")
    torch.manual_seed(0)
    # no bias before the batch norm: its gradient is zero up to rounding, and Adam would scale
    # that rounding (which differs between processes and thread counts) up to a full step
    model = torch.nn.Sequential(torch.nn.Linear(4, 8, bias=False), torch.nn.BatchNorm1d(8),
                                torch.nn.Linear(8, 3)).eval()
    reference = __import__("copy").deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    ref_opt = torch.optim.Adam(reference.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randint(3, (16,))
    loss = fn(student, "step")(model, opt, x, y)
    reference.train()
    ref_loss = torch.nn.functional.cross_entropy(reference(x), y)
    ref_opt.zero_grad()
    ref_loss.backward()
    ref_opt.step()
    reference.eval()
    assert loss == pytest.approx(ref_loss.item(), abs=1e-6)
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name  # weights and batch-norm statistics
    assert all(torch.allclose(p.grad, q.grad, atol=1e-6) for p, q in zip(model.parameters(), reference.parameters()))
    assert not any(m.training for m in model.modules())
    assert torch.allclose(opt.state_dict()["state"][0]["exp_avg"], ref_opt.state_dict()["state"][0]["exp_avg"])


def test_flags_and_generators_come_back(student):
    define(student, "def freeze_and_draw(model, g):\n    for p in model.parameters():\n        p.requires_grad_(False)\n"
                    "    model.calls = getattr(model, 'calls', 0) + 1\n    return torch.rand(2, generator=g)")
    model, g = torch.nn.Linear(2, 2), torch.Generator().manual_seed(5)
    first = fn(student, "freeze_and_draw")(model, g)
    assert not any(p.requires_grad for p in model.parameters()) and model.calls == 1
    assert torch.equal(first, torch.rand(2, generator=torch.Generator().manual_seed(5)))
    second = fn(student, "freeze_and_draw")(model, g)  # the generator continued where it was
    reference = torch.Generator().manual_seed(5)
    torch.rand(2, generator=reference)
    assert torch.equal(second, torch.rand(2, generator=reference))


def test_nothing_changes_when_the_function_leaves_its_inputs_alone(student):
    define(student, "def peek(model, x):\n    return model(x).sum().item()")
    model, x = torch.nn.Linear(3, 1), torch.randn(2, 3)
    before = [p.detach().clone() for p in model.parameters()]
    fn(student, "peek")(model, x)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_gradients_flow_through_a_call(student):
    define(student, "def weighted(x, layer):\n    return (layer(x) ** 2).sum()")
    layer = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3, requires_grad=True)
    loss = fn(student, "weighted")(x * 1.0, layer)  # a non-leaf input, as well as parameters
    assert loss.requires_grad
    got = torch.autograd.grad(loss, [x, layer.weight])
    expected = torch.autograd.grad((layer(x * 1.0) ** 2).sum(), [x, layer.weight])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, expected))
    with torch.no_grad():
        assert not fn(student, "weighted")(x, layer).requires_grad


def test_lambdas_and_local_classes_travel_by_value(student):
    define(student, "def apply(f, x):\n    return f(x)")

    class Doubler(torch.nn.Module):
        def forward(self, v):
            return 2 * v

    assert fn(student, "apply")(lambda v: v + 1, 1) == 2
    assert torch.equal(fn(student, "apply")(Doubler(), torch.ones(2)), 2 * torch.ones(2))


def test_records_of_how_the_code_ran_come_back(student):
    # a check watches the student's code through a forward hook on the model it passes, or a
    # callback that appends to a list: the records are made in the student's process, and the
    # grader must see them as it would in one process
    from coursekit.checks import forward_calls
    define(student, "def two_modes(model, x, on_step=None):\n    model.eval()\n    model(x[:1])\n"
                    "    model.train()\n    out = model(x)\n    if on_step is not None:\n"
                    "        on_step('step', len(x))\n    return out.sum().item()")
    model, x = torch.nn.Linear(3, 2), torch.randn(4, 3)
    steps = []
    with forward_calls(model) as calls:
        fn(student, "two_modes")(model, x, on_step=lambda *a: steps.append(a))
    assert [(c["training"], c["batch"]) for c in calls] == [(False, 1), (True, 4)]
    assert torch.equal(calls[1]["input"], x) and torch.allclose(calls[1]["output"], model(x))
    assert steps == [("step", 4)]
    assert not model._forward_hooks, "the hook is removed as usual"

    class Recorder:                       # a callable object of the test's own, and a bound method
        def __init__(self):
            self.seen = []

        def __call__(self, *a):
            self.seen.append(a)

    rec, other = Recorder(), Recorder()
    fn(student, "two_modes")(model, x, on_step=rec)
    fn(student, "two_modes")(model, x, on_step=other.__call__)
    assert rec.seen == [("step", 4)] and other.seen == [("step", 4)]


def test_objects_of_the_student_stay_there_as_handles(student):
    define(student, "class Pool:\n    def __init__(self, n):\n        self.n, self.items = n, []\n"
                    "    def add(self, x):\n        self.items.append(x)\n        return len(self.items)\n"
                    "    def __len__(self):\n        return len(self.items)\n    def __eq__(self, other):\n"
                    "        return True\n    def __bool__(self):\n        return True")
    pool = fn(student, "Pool")(3)
    assert isinstance(pool, remote.RemoteObject)
    assert pool.add(5) == 1 and pool.add(6) == 2 and len(pool) == 2 and pool.n == 3 and pool.items == [5, 6]
    # it never answers a comparison for the grader: == is identity, whatever the student's __eq__ says
    assert not (pool == 6) and not (6 == pool) and pool != [5, 6]


def test_random_streams(student):
    define(student, "import torch\ndef draw():\n    return torch.rand(3)")
    torch.manual_seed(0)
    a, b = fn(student, "draw")(), fn(student, "draw")()
    torch.manual_seed(0)
    assert torch.equal(a, torch.rand(3)) and torch.equal(b, torch.rand(3))  # one stream, as in one process
    # the student's draws (or seeds) never set the grader's own generator
    define(student, "def reseed():\n    torch.manual_seed(123)\n    import random; random.seed(1)")
    torch.manual_seed(7)
    random.seed(7)
    fn(student, "reseed")()
    expected = torch.Generator().manual_seed(7)
    assert torch.equal(torch.rand(3), torch.rand(3, generator=expected))
    assert random.random() == random.Random(7).random()


def test_errors_keep_their_type_and_never_stop_the_grader(student):
    define(student, "class MyError(Exception):\n    pass\n"
                    "def fail(kind):\n    import sys\n    if kind == 'value': raise ValueError('bad eps')\n"
                    "    if kind == 'mine': raise MyError('oops')\n    if kind == 'exit': sys.exit(3)\n"
                    "    raise KeyboardInterrupt")
    with pytest.raises(ValueError, match="bad eps"):
        fn(student, "fail")("value")
    with pytest.raises(RuntimeError, match="oops") as info:
        fn(student, "fail")("mine")
    assert type(info.value).__name__ == "MyError"
    for kind in ("exit", "interrupt"):
        with pytest.raises(RuntimeError):  # SystemExit and KeyboardInterrupt do not leave the sandbox as such
            fn(student, "fail")(kind)
    with pytest.raises(NameError, match="'nothing_here' is not defined"):
        fn(student, "nothing_here")()


def test_a_loop_is_interrupted_at_the_time_limit(student):
    define(student, "def spin():\n    while True:\n        pass\ndef ping():\n    return 'pong'")
    start = time.monotonic()
    with pytest.raises(remote.CellTimeoutError, match="time limit of 5 s"):
        fn(student, "spin", timeout=1)()
    assert time.monotonic() - start < 1 + remote.INTERRUPT_GRACE
    assert fn(student, "ping")() == "pong"  # the kernel lives on


def test_a_kernel_that_ignores_the_interrupt_is_killed(tmp_path):
    iso = sandbox.isolation(unsafe_no_sandbox=True)
    kernel = job.start_student_kernel(iso, tmp_path)
    try:
        define(kernel, "import signal\ndef stuck():\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                       "    while True:\n        pass")
        with pytest.raises(remote.DeadKernelError, match="ignored the interrupt"):
            fn(kernel, "stuck", timeout=1)()
        assert kernel.dead
        with pytest.raises(remote.DeadKernelError):
            kernel.run("1")
    finally:
        kernel.close()


def test_a_kernel_that_exits_is_reported_with_its_own_exit_status(tmp_path):
    """The reply pipe closes a moment before the process ends: the grader waits for the real
    exit status instead of killing the process and reporting its own SIGKILL."""
    iso = sandbox.isolation(unsafe_no_sandbox=True)
    kernel = job.start_student_kernel(iso, tmp_path)
    try:
        kernel.deadline = time.monotonic() + 60
        with pytest.raises(remote.DeadKernelError, match=r"^the notebook's kernel died \(exit status 3\)$"):
            kernel.run("import os, time\nos.closerange(3, 4096)\ntime.sleep(1)\nos._exit(3)")
    finally:
        kernel.close()

# ---------------------------------------------------------------- the decoder refuses what is not plain data

@pytest.mark.parametrize("tree, buffers, why", [
    (["obj", "os.system"], [], "unknown value tag"),
    (["T", "float32", [2], 0, -1], [b"\0" * 4], "cannot hold"),
    (["T", "object", [1], 0, -1], [b"\0" * 8], "not accepted"),
    (["A", "|O", [1], 0], [b"\0" * 8], "not accepted"),
    (["i", "9" * 5000], [], "too long"),
    (["by", 3], [b""], "bad buffer index"),
    (["rt", "Popen", []], [], "does not exist"),
    (["h", 1, "x"], [], "a handle where none can be"),
    (["l", [["l", [["l", []]]]]], [], None),
])
def test_decoder_refuses_what_is_not_plain(tree, buffers, why):
    if why is None:
        assert wire.decode_plain(tree, buffers) == [[[]]]
        deep = ["n"]
        for _ in range(wire.MAX_DEPTH + 2):
            deep = ["l", [deep]]
        tree, why = deep, "levels"
    with pytest.raises(wire.ProtocolError, match=why):
        wire.decode_plain(tree, buffers)


def test_frames_over_the_limit_are_refused():
    import os
    r, w = os.pipe()
    try:
        wire.write_frame(w, {"x": 1}, [b"\0" * 5000])
        with pytest.raises(wire.ProtocolError, match="limit is 1,000"):
            wire.read_frame(r, time.monotonic() + 5, limit=1000)
    finally:
        os.close(r)
        os.close(w)


def test_the_sandbox_mounts_its_scratch_tmp_before_what_it_shows(monkeypatch):
    """A course or a Python under /tmp (a clone in /tmp/...) stays visible in the sandbox: the
    student's tmpfs on /tmp comes first and the read-only binds go on top of it. (With the
    tmpfs last, it hid the virtualenv and no sandboxed kernel could start.)"""
    from pathlib import Path
    monkeypatch.setattr(sandbox, "visible_paths", lambda course_dir=None: [Path("/tmp")])
    iso = sandbox.Isolation(mode="bwrap-root", bwrap="/usr/bin/bwrap", size_option=True)
    args = sandbox.wrap(iso, ["python", "-c", "pass"])
    tmpfs = args.index("--tmpfs")
    assert args[tmpfs + 1] == "/tmp"
    binds = [i for i, a in enumerate(args) if a == "--ro-bind" and args[i + 1].startswith("/tmp")]
    assert binds and all(i > tmpfs for i in binds), args
    assert args[tmpfs - 2:tmpfs] == ["--size", str(512 * 2**20)]
