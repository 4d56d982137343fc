"""A hostile class, graded to exactly the expected CSV (coursekit.grading; docs/TEACHING.md).

The tests build a small course here ("quiz": two exercises, 1 + 2 points, whose test cells
use coursekit.checks without importing it again, as many notebooks do; "other": one
exercise), release it, and hand in a class of submissions made from the released notebook:
honest ones, each family of cheat that nbgrader alone falls for (rebinding the check
helpers, monkeypatching modules and builtins, IPython input and AST transformers,
``sys.modules``, objects that claim to equal anything, reading the caller's frames), attacks
on the course folder (reading the hidden tests, the gradebook and other students' work;
writing to them), a corrupt re-submission of a good notebook, a crash, an infinite loop
that ignores SIGINT, 50 MB of output, a fork bomb, a memory bomb, warnings on stderr, a
notebook handed in under the wrong assignment, forged test cells, a symbolic link.

The class is graded in one batch of two jobs and must come out exactly as EXPECTED says:
no cheat earns a point, nothing outside the sandbox changes, nothing earlier is lost. Other
tests interrupt a batch with Ctrl-C and split one into shards.

Everything here needs the sandbox (bubblewrap); without it the module is skipped, saying
why, because a fork bomb must not run unconfined.
"""
import copy
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

import coursekit as ck
from coursekit import grading
from coursekit.grading import sandbox
from coursekit.grading.exercises import nbgrader_meta
from test_grading import _cell, _read_csv, _submit  # the same notebook-building helpers

def _bubblewrap_problem() -> str | None:
    """Why bubblewrap itself cannot run here (the machine's limits, not the grader's), or None."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap is not installed"
    for extra in ([], ["--unshare-user"]):
        if subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", *extra, "true"],
                          capture_output=True).returncode == 0:
            return None
    return "bubblewrap cannot create namespaces on this machine (a container without the privilege?)"


if _bubblewrap_problem() and os.environ.get("COURSEKIT_REQUIRE_SANDBOX"):  # CI: the sandbox must be there
    raise RuntimeError(f"COURSEKIT_REQUIRE_SANDBOX is set but there is no sandbox: {_bubblewrap_problem()}")
if _bubblewrap_problem():
    pytest.skip(f"no sandbox on this machine: {_bubblewrap_problem()}", allow_module_level=True)
ISOLATION = sandbox.isolation()  # where bubblewrap works, the grader's sandbox must work too

# each test's budget, the class's grading included; every test here grades a class (a minute
# or more of wall time each on a loaded 2-core machine, about 3 min of CPU for the module)
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]
TIMEOUT = 10  # s per cell: the quiz's cells take milliseconds (the fork bomb: about a second)

# ---------------------------------------------------------------- the course


def _notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.cells = cells
    return nb


def quiz_notebook():
    return _notebook([
        _cell("markdown", "# A quiz"),
        _cell("code", "import torch\nfrom coursekit.checks import check_close, check_equal\n\n"
                      "xs = [3, -1, 4]\nt = torch.tensor([1.0, -2.0, 3.0])"),
        _cell("markdown", "**Exercise 1 (1 point).** Write `total(values)`."),
        _cell("code", "def total(values):\n    ### BEGIN SOLUTION\n    return sum(values)\n    ### END SOLUTION",
              "ex1-total", solution=True),
        _cell("code", 'check_equal("total(xs)", total(xs), 6)\n### BEGIN HIDDEN TESTS\n'
                      'check_equal("total([])", total([]), 0)\ncheck_equal("total([2.5, 1])", total([2.5, 1]), 3.5)\n'
                      "### END HIDDEN TESTS", "ex1-total-test", points=1),
        _cell("markdown", "**Exercise 2 (2 points).** Write `mean_abs(x)`."),
        _cell("code", "def mean_abs(x):\n    ### BEGIN SOLUTION\n    return x.abs().mean()\n    ### END SOLUTION",
              "ex2-mean-abs", solution=True),
        _cell("code", 'check_close("mean_abs(t)", mean_abs(t), 2.0)\n### BEGIN HIDDEN TESTS\n_before = t.clone()\n'
                      'check_close("mean_abs(-3 ... 3)", mean_abs(torch.arange(-3.0, 4.0)), 12 / 7, atol=1e-6)\n'
                      'assert torch.equal(t, _before), "t was changed"\n'
                      "assert torch.allclose(mean_abs(torch.full((5,), -2.0)), torch.tensor(2.0))\n"
                      "### END HIDDEN TESTS", "ex2-mean-abs-test", points=2),
        _cell("markdown", "Done."),
    ])


def other_notebook():
    return _notebook([
        _cell("code", "from coursekit.checks import check_equal"),
        _cell("code", "def double(v):\n    ### BEGIN SOLUTION\n    return 2 * v\n    ### END SOLUTION",
              "ex1-double", solution=True),
        _cell("code", 'check_equal("double(2)", double(2), 4)\n### BEGIN HIDDEN TESTS\n'
                      'check_equal("double(0)", double(0), 0)\n### END HIDDEN TESTS', "ex1-double-test", points=1),
    ])


def _at(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == grade_id)


def _with(nb, ex1=None, ex2=None, insert=()):
    """A copy of ``nb`` with the solution cells' code replaced and ordinary cells inserted.

    ``insert``: (after which grade_id or None for the setup cell, source) pairs.
    """
    nb = copy.deepcopy(nb)
    if ex1 is not None:
        nb.cells[_at(nb, "ex1-total")].source = ex1
    if ex2 is not None:
        nb.cells[_at(nb, "ex2-mean-abs")].source = ex2
    for after, source in reversed(list(insert)):
        where = 1 if after is None else _at(nb, after)
        nb.cells.insert(where + 1, nbformat.v4.new_code_cell(source))
    return nb


RIGHT1 = "def total(values):\n    return sum(values)"
RIGHT2 = "def mean_abs(x):\n    return x.abs().mean()"


def hostile_class(released, paths):
    """{student: notebook (or bytes)} built from the released quiz; ``paths`` are the course's real paths."""
    full = _with(released, RIGHT1, RIGHT2)
    course, inbox, repo = paths.course, paths.inbox, ck.ROOT
    probe = (
        "import os, socket\n"
        "def attempt(name, action):\n"
        "    try:\n"
        "        print(name, 'SUCCEEDED', action())\n"
        "    except Exception as err:\n"
        "        print(name, 'blocked:', type(err).__name__)\n")
    reads = probe + "\n".join(f"attempt({name!r}, lambda: len(open({str(path)!r}, 'rb').read()))" for name, path in [
        ("source", course / "source/quiz/quiz.ipynb"), ("gradebook", course / "gradebook.db"),
        ("ada's notebook", course / "submitted/ada/quiz/quiz.ipynb"), ("inbox", inbox / "ada/quiz/quiz.ipynb"),
        ("course notebook", repo / "notebooks/00_start_here.ipynb"), ("relative", Path("../../../source/quiz/quiz.ipynb")),
        ("via /proc", Path("/proc/1/root") / str(course / "gradebook.db").lstrip("/")), ("shadow", Path("/etc/shadow"))])
    reads += (f"\nattempt('list course', lambda: os.listdir({str(course)!r}))"
              f"\nattempt('list repository', lambda: os.listdir({str(repo / 'notebooks')!r}))"
              "\nattempt('network', lambda: socket.create_connection(('127.0.0.1', 22), timeout=1))"
              "\nattempt('dns', lambda: socket.getaddrinfo('pypi.org', 443))")
    cheat_read = ("import json\ntry:\n"
                  f"    nb = json.load(open({str(course / 'source/quiz/quiz.ipynb')!r}))\n"
                  "    exec(''.join(nb['cells'][3]['source']).replace('### BEGIN SOLUTION', ''))\n"
                  "except Exception as err:\n    print('no source:', type(err).__name__)")
    writes = probe + "\n".join(f"attempt({name!r}, lambda: open({str(path)!r}, 'r+b').write(b'0'))" for name, path in [
        ("gradebook", course / "gradebook.db"), ("ada's notebook", course / "submitted/ada/quiz/quiz.ipynb"),
        ("source", course / "source/quiz/quiz.ipynb"), ("release", course / "release/quiz/quiz.ipynb"),
        ("package", repo / "coursekit/checks.py"), ("data", repo / "data/README.md")])
    writes += (f"\nattempt('new result', lambda: open({str(course / 'results/quiz/writer.json')!r}, 'w').write('{{}}'))"
               f"\nattempt('next to ada', lambda: open({str(course / 'submitted/ada/quiz/extra.py')!r}, 'w'))"
               "\nattempt('own tmp', lambda: open('/tmp/mine', 'w').write('fine'))")
    escapes = probe + (
        "import signal, ctypes\n"
        "attempt('kill init', lambda: os.kill(1, signal.SIGKILL))\n"
        "attempt('kill parent', lambda: os.kill(os.getppid(), signal.SIGKILL))\n"
        "attempt('setuid root', lambda: os.setuid(0))\n"
        "attempt('chroot', lambda: os.chroot('/tmp'))\n"
        "attempt('sysrq', lambda: open('/proc/sysrq-trigger', 'w').write('b'))\n"
        "def unshare():\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER\n"
        "        raise OSError(ctypes.get_errno(), 'unshare')\n"
        "attempt('unshare', unshare)")
    return {
        "ada": full,
        "grace": copy.deepcopy(full),
        # 1. rebinding the check helpers (the test cells do not import them again) and torch's comparisons
        "rebind": _with(released, "def total(values):\n    return 0\n\n\ncheck_equal = lambda *a, **k: print('✓ trust me')",
                        "def mean_abs(x):\n    return x\n\n\ncheck_close = lambda *a, **k: None\nimport torch\n"
                        "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True"),
        # 2. monkeypatching the checks module, builtins and math
        "patcher": _with(released, "def total(values):\n    return 0", "def mean_abs(x):\n    return 0 * x", insert=[
            (None, "import builtins, math, coursekit.checks as checks\n"
                   "checks.check_close = checks.check_equal = lambda *a, **k: None\n"
                   "math.isclose = lambda *a, **k: True\nbuiltins.abs = lambda x: 0\n"
                   "builtins.AssertionError = type('Harmless', (Exception,), {})")]),
        # 3. IPython input and AST transformers that empty every later cell, the tests included
        "transformer": _with(released, insert=[(None, (
            "import ast\nip = get_ipython()\n"
            "ip.input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
            "class Empty(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
            "        return ast.Module(body=[ast.Pass()], type_ignores=[])\n"
            "ip.ast_transformers.append(Empty())"))]),
        # 4. sys.modules and torch itself
        "modules": _with(released, insert=[(None, (
            "import sys, types, torch\nfake = types.ModuleType('coursekit.checks')\n"
            "fake.check_close = fake.check_equal = lambda *a, **k: None\nsys.modules['coursekit.checks'] = fake\n"
            "torch.Tensor.__eq__ = lambda *a: True\ntorch.allclose = lambda *a, **k: True"))]),
        # 5. values that claim to equal anything
        "liar": _with(released, "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
                                "    def __repr__(self):\n        return '6'\n\n\ndef total(values):\n    return Yes()",
                      "class Zero(float):\n    def __sub__(self, other):\n        return 0.0\n    __rsub__ = __sub__\n\n\n"
                      "def mean_abs(x):\n    return Zero(99.0)"),
        # 6. looking for the expected value in the caller's frames and in memory
        "snoop": _with(released, "import sys, gc\n\n\ndef total(values):\n    frame = sys._getframe(1)\n"
                                 "    while frame:\n        for name, value in frame.f_locals.items():\n"
                                 "            if name in ('expected', 'expected_f'):\n                return value\n"
                                 "        frame = frame.f_back\n"
                                 "    found = [o for o in gc.get_objects() if isinstance(o, str) and 'HIDDEN' in o]\n"
                                 "    return len(found) or -1"),
        # 7. reading the course folder, the repository's notebooks, other students' work; the network
        "reader": _with(released, insert=[(None, reads), (None, cheat_read)]),
        # 8. writing to the gradebook, another student's notebook, the sources, the package
        "writer": _with(released, insert=[(None, writes)]),
        # 9. escaping the sandbox
        "escaper": _with(released, RIGHT1, RIGHT2, insert=[(None, escapes)]),
        # 10. a good notebook; its re-submission (handed in later, below) is corrupt
        "phoenix": copy.deepcopy(full),
        # 11. a crash after exercise 1: exercise 1 keeps its point
        "crasher": _with(released, RIGHT1, RIGHT2, insert=[("ex1-total-test", "import ctypes\nctypes.string_at(0)")]),
        # 12. an infinite loop that ignores SIGINT, in exercise 2
        "stubborn": _with(released, RIGHT1, "import signal\n\n\ndef mean_abs(x):\n"
                                            "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass"),
        # 13. 50 MB of output, in a cell, in the graded function, and straight to the file descriptor
        "flood": _with(released, "def total(values):\n    print('y' * 50_000_000)\n    return sum(values)", RIGHT2,
                       insert=[(None, "print('x' * 50_000_000)\nimport os\nos.write(1, b'z' * 50_000_000)")]),
        # 14. a fork bomb
        "forkbomb": _with(released, RIGHT1, RIGHT2, insert=[(None, "import os\nwhile True:\n    os.fork()")]),
        # 15. a memory bomb
        "hog": _with(released, RIGHT1, RIGHT2, insert=[(None, "hoard = bytearray(64 * 2**30)")]),
        # 16. an honest student whose code warns on stderr
        "warner": _with(released, "import sys, warnings\n\n\ndef total(values):\n"
                                  "    warnings.warn('deprecated', UserWarning)\n    print('note', file=sys.stderr)\n"
                                  "    return sum(values)", RIGHT2),
        # 17. the other assignment's notebook, handed in as the quiz
        "misfiled": "other",
        # 18. test cells rewritten in the file (they are locked in the editor, not in JSON), points raised
        "forger": _forged(released),
        # 19. a symbolic link to another student's notebook
        "linker": "link",
        # 20. a script in a markdown cell, and sys.exit() in a code cell
        "scripter": _scripted(_with(released, RIGHT1, RIGHT2, insert=[(None, "import sys\nsys.exit(1)")])),
    }


def _forged(released):
    nb = _with(released, "def total(values):\n    return 0", "def mean_abs(x):\n    return 0")
    for gid in ("ex1-total-test", "ex2-mean-abs-test"):
        cell = nb.cells[_at(nb, gid)]
        cell.source = "pass"
        cell.metadata["nbgrader"]["points"] = 100
    return nb


def _scripted(nb):
    nb.cells.append(nbformat.v4.new_markdown_cell("*hello*\n\n<script>document.title = 'pwned'</script>"))
    return nb


EXPECTED = {  # student: (score, status, notes)
    "ada": ("3", "graded", ""),
    "crasher": ("1", "graded", "1 ordinary cell inserted; the notebook's kernel died (killed by signal SIGSEGV) in "
                               "cell 6; not run after it: ex2-mean-abs-test"),
    "escaper": ("3", "graded", "1 ordinary cell inserted"),
    "flood": ("3", "graded", "1 ordinary cell inserted"),
    "forger": ("0", "graded", ""),
    "forkbomb": ("3", "graded", "1 ordinary cell inserted"),
    "grace": ("3", "graded", ""),
    "hog": ("3", "graded", "1 ordinary cell inserted"),
    "liar": ("0", "graded", ""),
    "linker": ("0", "not graded", "no quiz.ipynb in the submission folder (found ['quiz.ipynb (a symbolic link, "
                                  "not read)'])"),
    "misfiled": ("0", "not graded", "this is the notebook of assignment other, handed in as quiz; hand it in "
                                    "under other"),
    "modules": ("0", "graded", "1 ordinary cell inserted"),
    "patcher": ("0", "graded", "1 ordinary cell inserted"),
    "phoenix": ("3", "graded", None),  # the note names the corrupt file: checked in its own test
    "reader": ("0", "graded", "2 ordinary cells inserted"),
    "rebind": ("0", "graded", ""),
    "scripter": ("3", "graded", "2 ordinary cells inserted"),
    "snoop": ("0", "graded", ""),
    "stubborn": ("1", "graded", "the notebook's kernel was killed: it ran past the time limit of 10 s and ignored the "
                                "interrupt while ex2-mean-abs-test ran"),
    "transformer": ("0", "graded", "1 ordinary cell inserted"),
    "warner": ("3", "graded", ""),
    "writer": ("0", "graded", "1 ordinary cell inserted"),
}


def _digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _sandbox_processes() -> list[str]:
    """The processes on this machine that run as a sandbox's user id."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line for line in status.read_text().splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue  # the process ended meanwhile
        if uid >= sandbox.UID_BASE:
            found.append(f"{status.parent.name} (uid {uid})")
    return found


def _make_course(base: Path):
    notebooks = base / "notebooks"
    notebooks.mkdir(parents=True)
    nbformat.write(quiz_notebook(), str(notebooks / "quiz.ipynb"))
    nbformat.write(other_notebook(), str(notebooks / "other.ipynb"))
    root = base / "course"
    released = grading.release(root, ["quiz", "other"], notebooks_dir=notebooks)
    return root, {name: nbformat.read(str(p), as_version=4) for name, p in released.items()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The hostile class, collected (the phoenix twice) and graded in one batch of two jobs."""
    base = tmp_path_factory.mktemp("hostile")
    root, released = _make_course(base)
    inbox = base / "inbox"
    paths = SimpleNamespace(course=root, inbox=inbox)
    klass = hostile_class(released["quiz"], paths)
    for student, content in klass.items():
        if content == "other":
            _submit(inbox, student, "quiz", released["other"])
        elif content == "link":
            (inbox / student / "quiz").mkdir(parents=True)
            (inbox / student / "quiz" / "quiz.ipynb").symlink_to(inbox / "ada" / "quiz" / "quiz.ipynb")
        else:
            _submit(inbox, student, "quiz", content)
    _submit(inbox, "ada", "other", other_notebook())  # another assignment of an honest student
    grading.collect(root, inbox)
    second = base / "inbox2"  # the phoenix hands in again, and the file is damaged
    _submit(second, "phoenix", "quiz", b'{"cells": [{"cell_type": "code", "source": "tru')
    resubmission = grading.collect(root, second)
    protected = {"source": _digests(root / "source"), "release": _digests(root / "release"),
                 "package": _digests(ck.ROOT / "coursekit"), "inbox": _digests(inbox),
                 "submitted": _digests(root / "submitted")}
    start = time.perf_counter()
    cpu = os.times()
    counts = grading.autograde(root, ["quiz", "other"], timeout=TIMEOUT, jobs=2)
    wall = time.perf_counter() - start
    cpu = sum(os.times()[2:4]) - sum(cpu[2:4])
    grades, exercises = (_read_csv(p) for p in grading.export(root))
    feedback = grading.feedback(root)
    print(f"\nhostile class: {sum(counts.values())} notebooks graded in {wall:.0f} s "
          f"({cpu:.0f} s of CPU in the jobs)")
    return SimpleNamespace(root=root, inbox=inbox, counts=counts, grades=grades, exercises=exercises,
                           feedback=feedback, protected=protected, resubmission=resubmission)


def _row(graded, student, assignment="quiz"):
    rows = [r for r in graded.grades if r["student"] == student and r["assignment"] == assignment]
    assert len(rows) == 1, rows
    return rows[0]


def _outputs(graded, student):
    nb = nbformat.read(str(graded.root / "autograded" / student / "quiz" / "quiz.ipynb"), as_version=4)
    return "\n".join(o.get("text", "") + o.get("ename", "") + ": " + o.get("evalue", "") for c in nb.cells
                     if c.cell_type == "code" for o in c.outputs)


def test_the_hostile_class_grades_to_the_expected_csv(graded):
    got = {r["student"]: (r["score"], r["status"], r["notes"]) for r in graded.grades if r["assignment"] == "quiz"}
    expected = {s: (score, status, got.get(s, ("", "", ""))[2] if notes is None else notes)
                for s, (score, status, notes) in EXPECTED.items()}
    assert got == expected
    assert all(r["max_score"] == "3" for r in graded.grades if r["assignment"] == "quiz")
    assert _row(graded, "ada", "other")["score"] == "1"
    isolation = {r["isolation"] for r in graded.grades if r["status"] == "graded"}
    assert isolation == {ISOLATION.description}


def test_no_cheat_earns_a_point_in_any_exercise(graded):
    cheats = [s for s, (score, _, _) in EXPECTED.items() if score == "0"]
    for row in graded.exercises:
        if row["student"] in cheats:
            assert row["score"] == "0", row


def test_nothing_outside_the_sandbox_changed(graded):
    assert _digests(graded.root / "source") == graded.protected["source"]
    assert _digests(graded.root / "release") == graded.protected["release"]
    assert _digests(ck.ROOT / "coursekit") == graded.protected["package"]
    assert _digests(graded.inbox) == graded.protected["inbox"]
    assert _digests(graded.root / "submitted") == graded.protected["submitted"]
    assert not (graded.root / "results" / "quiz" / "writer.json").read_text().startswith("{}")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{graded.root / 'gradebook.db'}", "coursekit") as gb:
        for student in gb.students:
            for submission in student.submissions:
                for notebook in submission.notebooks:
                    assert all(g.manual_score is None for g in notebook.grades), student.id
    assert _sandbox_processes() == []  # no process of a sandbox outlived its job (the fork bomb's included)


def test_every_attack_on_files_processes_and_network_was_blocked(graded):
    reader, writer, escaper = (_outputs(graded, s) for s in ("reader", "writer", "escaper"))
    for text, n_attempts in ((reader, 12), (writer, 9), (escaper, 6)):
        assert text.count("blocked:") + text.count("SUCCEEDED") == n_attempts, text
    assert "SUCCEEDED" not in reader and "no source: FileNotFoundError" in reader
    assert writer.count("SUCCEEDED") == 1 and "own tmp SUCCEEDED" in writer  # its private /tmp only
    # nested user namespaces are refused where bwrap runs in one (--disable-userns); as root
    # without one (mode bwrap-root) a student may create them, with no privilege outside
    allowed = {"unshare"} if ISOLATION.mode == "bwrap-root" or not ISOLATION.disable_userns else set()
    assert {line.split(" SUCCEEDED")[0] for line in escaper.splitlines() if "SUCCEEDED" in line} <= allowed


def test_a_corrupt_resubmission_keeps_the_good_one(graded):
    (check,) = graded.resubmission
    assert check.gradable
    versions = sorted(p.name for p in (graded.root / "versions" / "phoenix" / "quiz").iterdir())
    assert [v[:4] for v in versions] == ["001-", "002-"]
    note = _row(graded, "phoenix")["notes"]
    assert note.startswith("not a readable notebook (NotJSONError") and note.endswith(
        f"kept as versions/phoenix/quiz/{versions[1]}; the earlier submission is kept and graded")
    kept = (graded.root / "versions" / "phoenix" / "quiz" / versions[0]).read_bytes()
    assert (graded.root / "submitted" / "phoenix" / "quiz" / "quiz.ipynb").read_bytes() == kept


def test_output_is_capped_in_the_notebook_and_the_feedback(graded):
    autograded = graded.root / "autograded" / "flood" / "quiz" / "quiz.ipynb"
    assert autograded.stat().st_size < 1_000_000
    text = _outputs(graded, "flood")
    # the cell's own output, and each call of total() in the test cell, are cut
    assert text.count("[output cut by the grader: 49,900,001 more characters were printed") >= 2
    html = graded.root / "feedback" / "flood" / "quiz" / "quiz.html"
    assert html.is_file() and html.stat().st_size < 2_000_000


def test_the_fork_and_memory_bombs_hit_their_limits(graded):
    assert "BlockingIOError" in _outputs(graded, "forkbomb")
    assert "MemoryError" in _outputs(graded, "hog")


def test_the_feedback_shows_no_student_script(graded):
    html = (graded.root / "feedback" / "scripter" / "quiz" / "quiz.html").read_text()
    assert "<em>hello</em>" in html and "<script>document.title" not in html


# ---------------------------------------------------------------- Ctrl-C, and shards


def _small_class(released):
    return {"ada": _with(released, RIGHT1, RIGHT2), "bo": _with(released, RIGHT1),
            "cy": _with(released, "def total(values):\n    import time\n    time.sleep(2)\n    return sum(values)", RIGHT2),
            "di": released, "ed": _with(released, RIGHT1, RIGHT2, insert=[("ex1-total-test", "import os\nos._exit(3)")]),
            "fa": _with(released, RIGHT1, RIGHT2)}


SMALL_EXPECTED = [("ada", "3"), ("bo", "1"), ("cy", "3"), ("di", "0"), ("ed", "1"), ("fa", "3")]


def test_ctrl_c_stops_the_batch_and_the_next_run_finishes_it(tmp_path):
    root, released = _make_course(tmp_path)
    for student, nb in _small_class(released["quiz"]).items():
        _submit(tmp_path / "inbox", student, "quiz", nb)
    grading.collect(root, tmp_path / "inbox")
    command = [sys.executable, "-m", "coursekit.grading", "autograde", "quiz", "--course-dir", str(root),
               "--jobs", "2", "--timeout", str(TIMEOUT)]
    env = dict(os.environ, PYTHONPATH=str(ck.ROOT))
    batch = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    results = root / "results" / "quiz"
    deadline = time.monotonic() + 600
    while not list(results.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    batch.send_signal(signal.SIGINT)
    out, err = batch.communicate(timeout=120)
    assert batch.returncode == 130, (out, err)
    assert "Nothing half-graded was kept: run the same command again" in err
    assert _sandbox_processes() == []
    grades = {r["student"]: r for r in _read_csv(grading.export(root)[0])}
    finished = {p.stem for p in results.glob("*.json")}
    assert 0 < len(finished) < 6
    for student, row in grades.items():
        if student in finished:
            assert row["status"] == "graded"
        else:  # never "graded" for a notebook whose job did not finish
            assert row["status"] == "not graded" and ("interrupted" in row["notes"] or "not autograded yet" in row["notes"])
    subprocess.run(command, env=env, check=True, capture_output=True)
    grades = _read_csv(grading.export(root)[0])
    assert [(r["student"], r["score"]) for r in grades] == SMALL_EXPECTED
    assert all(r["status"] == "graded" for r in grades)


def test_shards_merge_into_the_same_gradebook_as_one_run(tmp_path):
    tables = {}
    for how in ("one run", "shards"):
        base = tmp_path / how.replace(" ", "-")
        root, released = _make_course(base)
        for student, nb in _small_class(released["quiz"]).items():
            _submit(base / "inbox", student, "quiz", nb)
        grading.collect(root, base / "inbox")
        if how == "one run":
            grading.autograde(root, ["quiz"], timeout=TIMEOUT, jobs=2)
        else:
            shares = [grading.autograde(root, ["quiz"], timeout=TIMEOUT, jobs=2, shard=f"{k}/2")["quiz"]
                      for k in (1, 2)]
            assert sorted(shares) != [0, 6] and sum(shares) == 6, shares  # both shards did some of the work
            assert not (root / "results").exists()  # shards leave the gradebook and results to merge
            assert grading.merge(root) == {"merged": 6, "stale": 0, "failed": 0}
        grades, exercises = (_read_csv(p) for p in grading.export(root))
        tables[how] = ([{k: v for k, v in r.items()} for r in grades], exercises, _gradebook(root))
    assert tables["shards"] == tables["one run"]
    assert [(r["student"], r["score"]) for r in tables["one run"][0]] == SMALL_EXPECTED


def _gradebook(root):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "coursekit") as gb:
        return sorted((g.student.id, g.name, g.auto_score, g.max_score, g.needs_manual_grade)
                      for s in gb.students for sub in s.submissions for nb in sub.notebooks for g in nb.grades)
