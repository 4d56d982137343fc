"""Grading one submission: the trusted cells here, the student's cells in the sandbox, in step.

``python -m coursekit.grading.job SPEC.json`` is one job of a batch (batch.py). It reads the
course's source notebook (solutions and hidden tests) and the student's notebook, and walks
through them together:

* the student's process (sandbox.py, student.py) runs the student's notebook cell by cell, as
  handed in, except the graded test cells: in their place it runs only the imports and
  definitions of the test's visible part, so names the student saw defined there exist;
* this process runs the course notebook's own cells up to the last test: its setup cells, and
  each test cell in full, hidden tests included. In place of each solution cell it binds the
  names that cell defines to the student's (remote.py): functions and classes are called in
  the student's process, values assigned in the solution region are fetched from it;
* before each exercise the student's notebook is run up to that exercise's test cell, so the
  student's functions are what they were at that point of their notebook.

A test cell scores its points when it finishes without an error, here, where nothing the
student's code did can reach the checks. The job writes ``result.json`` (scores, errors, what
happened) and ``autograded.ipynb`` (the student's notebook with the test cells put back and
the outputs of both sides) into its folder; the batch merges them into the gradebook.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import remote, sandbox
from .exercises import nbgrader_meta, solution_bindings, validate_notebook, visible_part
from .kernel import Kernel, Recorder, clean_mimebundle, context_statements


_HTML_TAG = re.compile(r"<(?=[A-Za-z/!?])")  # the start of an HTML tag, comment or declaration


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Spec:
    """What a job needs (written by the batch as spec.json into the job's folder)."""
    student: str
    assignment: str
    source: str           # the course's notebook (solutions, hidden tests)
    submission: str       # a copy of the student's notebook
    out_dir: str
    timeout: float = 120.0
    quick: bool = True
    slot: int = 0
    isolation: dict = field(default_factory=dict)
    limits: dict = field(default_factory=lambda: dict(sandbox.DEFAULT_LIMITS))
    max_output: int = 100_000
    course_dir: str | None = None


# ---------------------------------------------------------------- the plan: where the two sides meet

@dataclass
class Plan:
    """The exercises, and where each one's test sits in the student's notebook."""
    source: nbformat.NotebookNode
    student: nbformat.NotebookNode
    exercises: list
    test_at: dict       # test grade_id -> index of the student's cell holding it (absent: deleted)
    stop_at: dict       # test grade_id -> the student's cells before this index run before the test
    student_code: list  # indices of the student's cells to run as code (test cells excluded)

    @classmethod
    def make(cls, source, student, exercises: list) -> "Plan":
        test_ids = {e.test_id for e in exercises}
        solution_ids = {e.solution_id for e in exercises}
        where: dict[str, int] = {}
        for i, cell in enumerate(student.cells):
            gid = nbgrader_meta(cell).get("grade_id")
            if gid in test_ids | solution_ids:
                where[gid] = i  # the last copy counts
        test_at = {gid: i for gid, i in where.items() if gid in test_ids}
        stop_at, floor = {}, 0
        for e in exercises:
            if e.test_id in test_at:
                stop = test_at[e.test_id]
            elif e.solution_id in where:
                stop = where[e.solution_id] + 1
            else:
                later = [where[x] for f in exercises[exercises.index(e) + 1:] for x in (f.solution_id, f.test_id)
                         if x in where]
                stop = min(later) if later else len(student.cells)
            floor = max(floor, stop)
            stop_at[e.test_id] = floor
        graded_cells = set(test_at.values())
        code = [i for i, c in enumerate(student.cells)
                if i not in graded_cells and (c.cell_type == "code" or nbgrader_meta(c).get("grade_id") in solution_ids)]
        return cls(source, student, exercises, test_at, stop_at, code)


# ---------------------------------------------------------------- running the job

class Job:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.source = nbformat.read(spec.source, as_version=4)
        self.student = nbformat.read(spec.submission, as_version=4)
        self.plan = Plan.make(self.source, self.student, validate_notebook(spec.source).exercises)
        self.student_outputs: dict[int, list] = {}  # student cell index -> outputs
        self.test_outputs: dict[str, list] = {}
        self.results: dict[str, dict] = {}           # test grade_id -> {"score", "error", ...}
        self.notes: list[str] = []
        self.cursor = 0                              # position in plan.student_code
        self.kernel: remote.StudentKernel | None = None
        self.trusted: Kernel | None = None
        self._context_done: set[str] = set()

    # -------------------------------------------------------- the student's side

    def start_student(self) -> None:
        iso = sandbox.Isolation(**self.spec.isolation) if self.spec.isolation else sandbox.isolation()
        self.kernel = start_student_kernel(iso, Path(self.spec.out_dir), quick=self.spec.quick, slot=self.spec.slot,
                                           course_dir=Path(self.spec.course_dir) if self.spec.course_dir else None,
                                           limits=self.spec.limits, max_output=self.spec.max_output)
        self.kernel.limit_label = f" of {self.spec.timeout:g} s"

    def run_student_until(self, stop: int) -> None:
        """Run the student's cells before index ``stop`` that have not run yet."""
        code = self.plan.student_code
        while self.cursor < len(code) and code[self.cursor] < stop and not self.kernel.dead:
            index = code[self.cursor]
            self.cursor += 1
            self.kernel.deadline = time.monotonic() + self.spec.timeout
            try:
                outputs, _ = self.kernel.run(str(self.student.cells[index].source))
                # the student's process cut its output already; the margin keeps its note
                self.student_outputs[index] = sanitize_outputs(outputs, self.spec.max_output + 1000)
            except remote.CellTimeoutError:
                self.student_outputs[index] = [nbformat.from_dict(_error_output(
                    "CellTimeoutError", f"stopped at the time limit of {self.spec.timeout:g} s"))]
                self.notes.append(f"cell {index + 1} stopped at the time limit")
            except remote.DeadKernelError as err:
                self.student_outputs[index] = [nbformat.from_dict(_error_output("DeadKernelError", str(err)))]
                self.died(f"in cell {index + 1}")
        # the test cells' context, for the student's later cells
        for gid, at in self.plan.test_at.items():
            if at < stop and gid not in self._context_done and not self.kernel.dead:
                self._context_done.add(gid)
                source = "\n".join(visible_part(self._source_cell(gid).source))
                self.kernel.deadline = time.monotonic() + self.spec.timeout
                try:
                    self.kernel.run(context_statements(source), quiet=True)
                except remote.CellTimeoutError:
                    pass
                except remote.DeadKernelError:
                    self.died("while it defined a test cell's names")

    def died(self, where: str) -> None:
        if not any(n.startswith("the notebook's kernel") for n in self.notes):
            self.notes.append(f"{self.kernel.dead} {where}")

    def _source_cell(self, grade_id: str):
        return next(c for c in self.source.cells if nbgrader_meta(c).get("grade_id") == grade_id)

    # -------------------------------------------------------- the trusted side

    def bind_solution(self, cell) -> None:
        source = self.trusted.shell.transform_cell(cell.source)
        for kind, what in solution_bindings(source):
            if kind == "remote":
                self.trusted.user_ns[what] = remote.RemoteFunction(self.kernel, what)
            elif kind == "fetch":
                for name in what:
                    try:
                        self.trusted.user_ns[name] = self.kernel.call(("V", name), (), {})
                    except (NameError, remote.CellTimeoutError, remote.DeadKernelError):
                        self.trusted.user_ns.pop(name, None)
            else:
                self.trusted.run_cell(what)

    def run_test(self, exercise) -> None:
        cell = self.source.cells[exercise.test_index]
        gid = exercise.test_id
        self.kernel.deadline = time.monotonic() + self.spec.timeout
        outputs, error = self.trusted.run_cell(cell.source)
        if not self.kernel.dead:
            try:
                self.kernel.release()
            except (remote.CellTimeoutError, remote.DeadKernelError):
                pass
        self.test_outputs[gid] = [nbformat.from_dict(o) for o in outputs]
        if error and error["ename"] == "CellTimeoutError":
            self.notes.append(f"{gid} stopped at the time limit")
        if error and error["ename"] == "DeadKernelError":
            self.died(f"while {gid} ran")
        self.results[gid] = {"score": 0.0 if error else exercise.points, "max_score": exercise.points,
                             "error": _error_text(error)}

    def run(self) -> dict:
        start = time.monotonic()
        os.environ.update({"COURSEKIT_QUICK": "1" if self.spec.quick else "0", "COURSEKIT_DEVICE": "cpu",
                           "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"})
        # a test cell shows what the student's function printed (cut to max_output there), and its own lines
        self.trusted = Kernel(self.spec.max_output + 10_000, inline_figures=False)
        self.trusted.user_ns["__file__"] = "notebook.ipynb"
        self.start_student()
        by_solution = {e.solution_index: e for e in self.plan.exercises}
        by_test = {e.test_index: e for e in self.plan.exercises}
        last = max(e.test_index for e in self.plan.exercises)
        for i, cell in enumerate(self.source.cells[:last + 1]):
            if self.kernel.dead:
                break
            if cell.cell_type != "code":
                continue
            if i in by_solution:
                e = by_solution[i]
                self.run_student_until(self.plan.stop_at[e.test_id])
                if self.kernel.dead:
                    break
                self.kernel.deadline = time.monotonic() + self.spec.timeout
                self.bind_solution(cell)
                if self.kernel.dead:
                    self.died(f"while the grader fetched what cell {i + 1} defines")
            elif i in by_test:
                e = by_test[i]
                self.run_student_until(self.plan.stop_at[e.test_id])
                if self.kernel.dead:
                    break
                self.run_test(e)
            else:
                self.kernel.deadline = time.monotonic() + self.spec.timeout
                self.trusted.run_cell(cell.source)
                if self.kernel.dead:
                    self.died(f"while cell {i + 1} of the course's notebook called the student's code")
        for e in self.plan.exercises:
            if e.test_id not in self.results:
                self.results[e.test_id] = {"score": 0.0, "max_score": e.points,
                                           "error": f"DeadKernelError: not run: {self.kernel.dead}"}
        lost = [e.test_id for e in self.plan.exercises if self.results[e.test_id]["error"].startswith(
            "DeadKernelError: not run")]
        if lost:
            self.notes.append(f"not run after it: {', '.join(lost)}")
        self.kernel.close()
        return self.finish(time.monotonic() - start, _cpu())

    # -------------------------------------------------------- what is written

    def autograded(self) -> nbformat.NotebookNode:
        """The student's notebook with the course's test cells and the outputs of both sides."""
        nb = copy.deepcopy(self.student)
        nb.metadata["kernelspec"] = copy.deepcopy(self.source.metadata.get("kernelspec", {}))
        seen_ids: dict[str, int] = {}
        for i, cell in enumerate(nb.cells):
            gid = nbgrader_meta(cell).get("grade_id")
            if gid:
                seen_ids[gid] = i
        solution_cells = {e.solution_id: self.source.cells[e.solution_index] for e in self.plan.exercises}
        cells = []
        for i, cell in enumerate(nb.cells):
            gid = nbgrader_meta(cell).get("grade_id")
            if gid and seen_ids.get(gid) != i:   # an earlier copy of a duplicated cell: an ordinary cell
                gid = None
            if gid in self.plan.test_at and self.plan.test_at[gid] == i:
                cells.append(self._test_cell(gid))
                continue
            source = cell.source if isinstance(cell.get("source"), str) else str(cell.get("source", ""))
            # the student's cells are rebuilt from their text alone: the nbgrader metadata is the
            # course's (the feedback believes it), HTML in markdown is escaped
            if gid in solution_cells or cell.cell_type == "code":
                new = nbformat.v4.new_code_cell(source)
                new.outputs = self.student_outputs.get(i, [])
                if gid in solution_cells:
                    new.metadata["nbgrader"] = copy.deepcopy(solution_cells[gid].metadata["nbgrader"])
            else:
                new = nbformat.v4.new_markdown_cell(_HTML_TAG.sub("&lt;", source))
            cells.append(new)
        for e in self.plan.exercises:  # test cells the student deleted are put back after their solution
            if e.test_id not in self.plan.test_at:
                after = next((k for k, c in enumerate(cells) if nbgrader_meta(c).get("grade_id") == e.solution_id),
                             len(cells) - 1)
                cells.insert(after + 1, self._test_cell(e.test_id))
        nb.cells = cells
        return nb

    def _test_cell(self, gid: str):
        cell = copy.deepcopy(self._source_cell(gid))
        cell.outputs = self.test_outputs.get(gid, [])
        cell.execution_count = None
        return cell

    def finish(self, wall: float, cpu: float) -> dict:
        out = Path(self.spec.out_dir)
        nb = self.autograded()
        nbformat.write(nb, str(out / "autograded.ipynb"))
        exercises = [{"exercise": e.test_id, **self.results[e.test_id]} for e in self.plan.exercises]
        result = {
            "student": self.spec.student, "assignment": self.spec.assignment, "status": "graded",
            "score": sum(x["score"] for x in exercises), "max_score": sum(x["max_score"] for x in exercises),
            "exercises": exercises, "notes": self.notes, "submission_sha256": sha256(self.spec.submission),
            "source_sha256": sha256(self.spec.source), "isolation": self.spec.isolation.get("description", ""),
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        }
        _write_json(out / "result.json", result)
        return result


# ---------------------------------------------------------------- helpers

def start_student_kernel(iso: sandbox.Isolation, folder: Path, *, quick: bool = True, slot: int = 0,
                         course_dir: Path | None = None, limits: dict | None = None,
                         max_output: int = 100_000) -> remote.StudentKernel:
    """Start a student's kernel with isolation ``iso``; its stray output goes to folder/student.log."""
    sandboxed = iso.mode != "none"
    env = sandbox.student_env(quick, home="/tmp" if sandboxed else str(folder / "home"))
    if not sandboxed:
        Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    limits = dict(sandbox.DEFAULT_LIMITS if limits is None else limits)
    if not sandboxed:  # the process limit counts all of the TA's processes outside the sandbox's own uid
        limits["processes"] = None

    def argv_for(req, rep, ctl):
        return sandbox.wrap(iso, sandbox.student_command(req, rep, ctl, limits, max_output, sandboxed), slot, course_dir)

    return remote.StudentKernel(argv_for, env, str(folder / "student.log"))


def _cpu() -> float:
    """CPU seconds of this process since it started, and of the student's process (once it ended)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _error_output(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


def _error_text(error: dict | None) -> str:
    if not error:
        return ""
    first = (error.get("evalue") or "").strip().splitlines()
    return f"{error['ename']}: {first[0]}" if first else error["ename"]


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def sanitize_outputs(outputs, max_chars: int) -> list[dict]:
    """Outputs that came from the student's process, rebuilt as valid, capped nbformat outputs."""
    rec = Recorder(max_chars)
    if not isinstance(outputs, list):
        return []
    for out in outputs[:10_000]:
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type")
        if kind == "stream" and isinstance(out.get("text"), str):
            rec.stream("stderr" if out.get("name") == "stderr" else "stdout", out["text"])
        elif kind in ("display_data", "execute_result"):
            count = out.get("execution_count") if type(out.get("execution_count")) is int else None
            rec.display(kind, clean_mimebundle(out.get("data")), None, count)
        elif kind == "error":
            tb = out.get("traceback")
            rec.error(str(out.get("ename", "Error"))[:200], str(out.get("evalue", "")),
                      [str(x) for x in tb] if isinstance(tb, list) else [])
    return [nbformat.from_dict(o) for o in rec.finish()]


def main(argv: list[str]) -> int:
    spec = Spec(**json.loads(Path(argv[0]).read_text()))
    out = Path(spec.out_dir)
    try:
        job = Job(spec)
        job.run()
    except Exception:  # noqa: BLE001 (the batch records why the grader failed on this one)
        _write_json(out / "failure.json", {"error": traceback.format_exc()[-5000:]})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
