"""Do the exercises' visible self-checks catch wrong answers?

A student of the released notebook sees only the visible checks of each test cell. This tool
answers, per exercise, how those checks treat typical wrong answers:

* the **table** of wrong answers that the exercise's text warns about, kept per notebook in
  ``tests/wrong_answers/NN_name.py`` (a ``WRONG_ANSWERS`` dict from solution grade_id to a list
  of :class:`Wrong`), each with the cause its failure message must name;
* **mutants**: every single small change of the solution that :func:`mutants` makes (a flipped
  sign or operator, mean for sum, the wrong axis, a dropped ``detach``/``eval``/``clamp``, an
  off-by-one, a deleted statement, swapped arguments, ...).

Each candidate replaces the solution, then the cells up to and including the exercise's test
cell run (its visible part only), in quick mode, in a process forked from one that ran the
notebook up to the exercise, so each candidate costs only its own cells. Verdicts:

* ``caught``: a visible check (or the student's own code) raised; its message is recorded;
* ``escaped``: the visible checks passed, but the hidden tests fail: a wrong result the
  student would submit believing it right;
* ``same``: visible and hidden tests pass (the change does not change the result, as far as
  the tests can tell);
* ``hang``: the candidate ran past the time limit.

    python -m tools.wrong_answers notebooks/01_adversarial_examples.ipynb          # table + mutants
    python -m tools.wrong_answers notebooks/01_adversarial_examples.ipynb --exercise ex2-fgsm -v
"""
from __future__ import annotations

import argparse
import ast
import copy
import importlib.util
import json
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = ROOT / "tests" / "wrong_answers"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


@dataclass
class Wrong:
    """A typical wrong answer: the solution with ``replace``'s substitutions made (each ``old``
    must occur in the solution), or the solution replaced by ``source``; ``cause`` is a regular
    expression that the visible check's failure message must match (case-insensitive)."""
    description: str
    cause: str
    replace: dict = field(default_factory=dict)
    source: str | None = None

    def apply(self, region: str) -> str:
        if self.source is not None:
            return textwrap.dedent(self.source).strip("\n")
        if not self.replace:
            raise ValueError(f"wrong answer {self.description!r}: give replace or source")
        for old, new in self.replace.items():
            if old not in region:
                raise ValueError(f"wrong answer {self.description!r}: {old!r} is not in the solution:\n{region}")
            region = region.replace(old, new)
        return region


# ---------------------------------------------------------------- notebook cells

def split_solution(source: str) -> tuple[list[str], list[str], list[str], str]:
    """(lines before, solution lines, lines after, indent) of a solution cell."""
    lines = source.split("\n")
    begin = next(i for i, line in enumerate(lines) if BEGIN_SOLUTION in line)
    end = next(i for i, line in enumerate(lines) if END_SOLUTION in line)
    indent = re.match(r"\s*", lines[begin]).group(0)
    return lines[:begin], lines[begin + 1:end], lines[end + 1:], indent


def region_text(region_lines: list[str]) -> str:
    return textwrap.dedent("\n".join(region_lines)).strip("\n")


def with_region(source: str, new_region: str) -> str:
    before, _, after, indent = split_solution(source)
    body = textwrap.indent(new_region, indent) if new_region.strip() else indent + "pass"
    return "\n".join(before + [body] + after)


def visible_and_hidden(source: str) -> tuple[str, str]:
    visible, hidden, inside = [], [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        else:
            (hidden if inside else visible).append(line)
    return "\n".join(visible), "\n".join(hidden)


# ---------------------------------------------------------------- mutants

SWAPS = {"sum": "mean", "mean": "sum", "max": "min", "min": "max", "amax": "amin", "amin": "amax",
         "argmax": "argmin", "argmin": "argmax", "softmax": "log_softmax", "log_softmax": "softmax",
         "logsumexp": "sum", "norm": "sum", "std": "var", "var": "std", "mse_loss": "l1_loss",
         "l1_loss": "mse_loss", "sigmoid": "tanh", "exp": "log", "log": "exp", "ones_like": "zeros_like",
         "zeros_like": "ones_like", "randn": "rand", "rand": "randn", "full_like": "ones_like"}
DROPPABLE = {"detach", "clamp", "clamp_", "clip", "clone", "sign", "abs", "sqrt", "exp", "log", "relu",
             "sigmoid", "neg", "float", "item", "squeeze", "unsqueeze", "flatten", "t", "contiguous"}
DELETABLE_CALLS = {"eval", "train", "zero_grad", "step", "backward", "requires_grad_", "manual_seed"}
BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
          ast.FloorDiv: ast.Div}
CMPOPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
          ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
KEYWORD_VALUES = {"reduction": ["mean", "sum", "none"], "create_graph": [True, False],
                  "retain_graph": [True, False], "keepdim": [True, False], "targeted": [True, False],
                  "descending": [True, False], "p": [1, 2, float("inf")]}


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _sites(tree: ast.AST) -> list[tuple]:
    """Every place a mutation applies: (node index in ast.walk order, kind, argument, description)."""
    found = []
    for i, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
            found.append((i, "binop", None, f"{type(node.op).__name__} → {BINOPS[type(node.op)].__name__}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            found.append((i, "unary", None, "drop a unary minus / not"))
        elif isinstance(node, ast.Compare) and type(node.ops[0]) in CMPOPS:
            found.append((i, "compare", None, f"{type(node.ops[0]).__name__} → "
                                              f"{CMPOPS[type(node.ops[0])].__name__}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            found.append((i, "bool", None, f"{node.value} → {not node.value}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, int):
            found.extend([(i, "int", d, f"{node.value} → {node.value + d}") for d in (1, -1)])
        elif isinstance(node, ast.Constant) and isinstance(node.value, float) and node.value not in (0.0,):
            found.append((i, "float", None, f"{node.value} → {node.value * 2}"))
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if name in SWAPS:
                found.append((i, "swap", SWAPS[name], f"{name} → {SWAPS[name]}"))
            if name in DROPPABLE:
                found.append((i, "drop", None, f"drop .{name}()"))
            if len(node.args) >= 2 and all(isinstance(a, (ast.Name, ast.Attribute, ast.Subscript))
                                           for a in node.args[:2]):
                found.append((i, "swapargs", None, f"swap the first two arguments of {name}"))
            for k, kw in enumerate(node.keywords):
                if kw.arg == "dim" and isinstance(kw.value, (ast.Constant, ast.UnaryOp)):
                    found.append((i, "dim", k, f"{name}(dim=…) → another axis"))
                for value in KEYWORD_VALUES.get(kw.arg, []):
                    if isinstance(kw.value, ast.Constant) and kw.value.value != value:
                        found.append((i, "keyword", (k, value), f"{name}({kw.arg}={kw.value.value!r} → {value!r})"))
        elif isinstance(node, ast.With):
            found.append((i, "unwith", None, "remove a with-block's context manager"))
        if isinstance(node, (ast.FunctionDef, ast.For, ast.While, ast.If, ast.With, ast.Module)):
            body = node.body
            for j, stmt in enumerate(body):
                is_return = isinstance(stmt, ast.Return)
                call = stmt.value if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) else None
                if len(body) > 1 and not is_return and not isinstance(stmt, (ast.FunctionDef, ast.Import,
                                                                               ast.ImportFrom)):
                    label = _call_name(call) if call is not None else type(stmt).__name__
                    found.append((i, "delete", j, f"delete statement {j + 1} ({label})"))
                elif call is not None and _call_name(call) in DELETABLE_CALLS:
                    found.append((i, "delete", j, f"delete .{_call_name(call)}()"))
    return found


def _mutate(tree: ast.AST, site) -> ast.AST:
    tree = copy.deepcopy(tree)
    index, kind, arg, _ = site
    node = list(ast.walk(tree))[index]
    if kind == "binop":
        node.op = BINOPS[type(node.op)]()
    elif kind == "compare":
        node.ops[0] = CMPOPS[type(node.ops[0])]()
    elif kind == "bool":
        node.value = not node.value
    elif kind == "int":
        node.value = node.value + arg
    elif kind == "float":
        node.value = node.value * 2
    elif kind == "swap":
        if isinstance(node.func, ast.Attribute):
            node.func.attr = arg
        else:
            node.func.id = arg
    elif kind == "swapargs":
        node.args[0], node.args[1] = node.args[1], node.args[0]
    elif kind == "dim":
        kw = node.keywords[arg]
        old = ast.literal_eval(kw.value)
        kw.value = ast.Constant(0 if old not in (0,) else 1)
    elif kind == "keyword":
        k, value = arg
        node.keywords[k].value = ast.Constant(value)
    elif kind in ("unary", "drop", "unwith", "delete"):
        parent_map = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        if kind == "unary":
            _replace(parent_map[node], node, node.operand)
        elif kind == "drop":
            if isinstance(node.func, ast.Attribute):
                _replace(parent_map[node], node, node.func.value)
            elif node.args:
                _replace(parent_map[node], node, node.args[0])
            else:
                raise ValueError("nothing to keep")
        elif kind == "unwith":
            parent = parent_map[node]
            for field_name in ("body", "orelse", "finalbody"):
                stmts = getattr(parent, field_name, None)
                if isinstance(stmts, list) and node in stmts:
                    at = stmts.index(node)
                    stmts[at:at + 1] = node.body
        elif kind == "delete":
            node.body[arg] = ast.Pass()
    return ast.fix_missing_locations(tree)


def _replace(parent, old, new):
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
            return
        if isinstance(value, list):
            for k, item in enumerate(value):
                if item is old:
                    value[k] = new
                    return
    raise ValueError("node not found in its parent")


def mutants(region: str, limit: int = 80) -> list[tuple[str, str]]:
    """Single-change mutants of a solution's code: [(what changed, new code)], unique, at most ``limit``."""
    tree = ast.parse(region)
    original = ast.unparse(tree)
    seen, out = {original}, []
    for site in _sites(tree):
        try:
            code = ast.unparse(_mutate(tree, site))
            compile("def _solution():\n" + textwrap.indent(code, "    "), "<mutant>", "exec")
        except (ValueError, SyntaxError, TypeError, IndexError):
            continue
        if code not in seen:
            seen.add(code)
            out.append((site[3], code))
    if len(out) > limit:  # keep a deterministic, evenly spread subset
        step = len(out) / limit
        out = [out[int(k * step)] for k in range(limit)]
    return out


# ---------------------------------------------------------------- running

def load_table(notebook: Path) -> dict[str, list[Wrong]]:
    path = TABLES / f"{notebook.stem}.py"
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"wrong_answers_{notebook.stem[:2]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG_ANSWERS


def run(notebook: str | Path, use_mutants: bool = True, exercises: list[str] | None = None,
        timeout: int = 60) -> dict:
    """Run the table (and the mutants) of one notebook in a worker process; returns its report."""
    notebook = Path(notebook).resolve()
    env = dict(os.environ, COURSEKIT_QUICK="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONHASHSEED="0",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    spec = {"notebook": str(notebook), "mutants": use_mutants, "exercises": exercises, "timeout": timeout}
    proc = subprocess.run([sys.executable, "-m", "tools.wrong_answers", "--worker", json.dumps(spec)],
                          cwd=str(notebook.parent), env=env, capture_output=True, text=True)
    marker = "@@REPORT@@"
    if marker not in proc.stdout:
        raise RuntimeError(f"the worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}\n{proc.stdout[-2000:]}")
    return json.loads(proc.stdout.split(marker, 1)[1])


def _worker(spec: dict) -> dict:
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    sys.path.insert(0, str(ROOT))
    notebook = Path(spec["notebook"])
    nb = nbformat.read(str(notebook), as_version=4)
    table = load_table(notebook)
    shell = InteractiveShell.instance()
    cells = nb.cells
    meta = [c.get("metadata", {}).get("nbgrader", {}) or {} for c in cells]
    solution_at = [i for i, m in enumerate(meta) if m.get("solution")]
    last_test = max((i for i, m in enumerate(meta) if m.get("grade")), default=-1)
    results, started = [], time.perf_counter()

    def code_of(i: int) -> str:
        return visible_and_hidden(cells[i].source)[0] if meta[i].get("grade") else cells[i].source

    for i, cell in enumerate(cells[:last_test + 1]):
        if cell.cell_type != "code":
            continue
        grade_id = meta[i].get("grade_id")
        if i in solution_at and (spec["exercises"] is None or grade_id in spec["exercises"]):
            test_at = next(j for j in range(i + 1, len(cells)) if meta[j].get("grade"))
            between = [code_of(j) for j in range(i + 1, test_at) if cells[j].cell_type == "code"]
            visible, hidden = visible_and_hidden(cells[test_at].source)
            _, region_lines, _, _ = split_solution(cell.source)
            region = region_text(region_lines)
            candidates = [("table", w.description, w.apply(region), w.cause) for w in table.get(grade_id, [])]
            if spec["mutants"]:
                candidates += [("mutant", what, code, None) for what, code in mutants(region)]
            baseline = _attempt(shell, [cell.source] + between + [visible], hidden, spec["timeout"])
            for origin, what, code, cause in candidates:
                outcome = _attempt(shell, [with_region(cell.source, code)] + between + [visible], hidden,
                                   spec["timeout"])
                results.append(dict(exercise=grade_id, origin=origin, what=what, cause=cause, code=code,
                                    baseline=baseline["verdict"], **outcome))
        outcome = shell.run_cell(code_of(i), store_history=False)
        if not outcome.success:
            error = outcome.error_in_exec or outcome.error_before_exec
            raise RuntimeError(f"cell {i} of {notebook.name} failed with the correct solutions: "
                               f"{type(error).__name__}: {error}")
    return {"notebook": notebook.name, "seconds": time.perf_counter() - started, "results": results}


def _attempt(shell, sources: list[str], hidden: str, timeout: int) -> dict:
    """Run ``sources`` (then ``hidden`` if they pass) in a forked child; the verdict and message."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, report through the pipe, never return
        os.close(read_fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)

        def on_alarm(*_):
            raise TimeoutError(f"ran over {timeout} s")

        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(timeout)
        report = {"verdict": "same", "message": ""}
        try:
            for source in sources:
                outcome = shell.run_cell(source, store_history=False)
                if not outcome.success:
                    error = outcome.error_in_exec or outcome.error_before_exec
                    verdict = "hang" if isinstance(error, TimeoutError) else "caught"
                    report = {"verdict": verdict, "message": f"{type(error).__name__}: {error}"}
                    break
            else:
                outcome = shell.run_cell(hidden, store_history=False)
                if not outcome.success:
                    error = outcome.error_in_exec or outcome.error_before_exec
                    report = {"verdict": "escaped", "message": f"hidden test: {type(error).__name__}: {error}"}
        except BaseException as err:  # noqa: BLE001 - anything at all must still reach the parent
            report = {"verdict": "caught", "message": f"{type(err).__name__}: {err}"}
        os.write(write_fd, json.dumps(report).encode())
        os._exit(0)
    os.close(write_fd)
    chunks, deadline = [], time.monotonic() + timeout + 30
    while True:
        ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            chunks = [json.dumps({"verdict": "hang", "message": f"killed after {timeout + 30} s"}).encode()]
            break
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    data = b"".join(chunks)
    return json.loads(data) if data else {"verdict": "caught", "message": "the candidate killed its process"}


def summary(report: dict) -> dict:
    """Per exercise: counts of each verdict, the catch rate among changed results, and problems."""
    by_exercise: dict[str, dict] = {}
    for r in report["results"]:
        s = by_exercise.setdefault(r["exercise"], {"caught": 0, "escaped": 0, "same": 0, "hang": 0})
        s[r["verdict"]] += 1
    for s in by_exercise.values():
        changed = s["caught"] + s["escaped"]
        s["catch_rate"] = s["caught"] / changed if changed else 1.0
    return by_exercise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", nargs="?")
    parser.add_argument("--exercise", action="append", help="solution grade_id (repeatable)")
    parser.add_argument("--no-mutants", action="store_true", help="the table only")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every candidate")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        report = _worker(json.loads(args.worker))
        print("@@REPORT@@" + json.dumps(report))
        return 0
    if not args.notebook:
        parser.error("give a notebook")
    report = run(args.notebook, use_mutants=not args.no_mutants, exercises=args.exercise)
    for r in report["results"]:
        bad = r["verdict"] == "escaped" or (r["origin"] == "table" and r["verdict"] != "caught")
        if args.verbose or bad:
            print(f"[{r['verdict']:7s}] {r['exercise']} {r['origin']}: {r['what']}")
            if r["message"]:
                print("          " + r["message"].replace("\n", "\n          ")[:600])
            if bad:
                print(textwrap.indent(r["code"], "          | "))
    for exercise, s in summary(report).items():
        print(f"{exercise:32s} caught {s['caught']:3d}  escaped {s['escaped']:3d}  same {s['same']:3d}  "
              f"hang {s['hang']:2d}  catch rate {s['catch_rate']:.0%}")
    print(f"{report['notebook']}: {report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
