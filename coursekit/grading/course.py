"""The TA's loop on top of nbgrader: release, collect, autograde, export, feedback.

The course folder is nbgrader's standard layout, built outside the repository::

    <course>/nbgrader_config.py               copied from coursekit/grading/nbgrader_config.py
    <course>/source/<a>/<a>.ipynb             notebooks/<a>.ipynb, copied at every release
    <course>/release/<a>/<a>.ipynb            the student version (hand this out)
    <course>/submitted/<student>/<a>/<a>.ipynb
    <course>/versions/<student>/<a>/NNN-<sha256>.ipynb   every file collect received
    <course>/autograded/..., feedback/<student>/<a>/<a>.html, gradebook.db
    <course>/results/<a>/<student>.json       what each grading job found
    <course>/grades.csv, exercises.csv        written by export
    <course>/logs/, reports/                  nbgrader's logs, failed jobs, what collect noticed

An assignment is one notebook, named by its stem (``00_start_here``). nbgrader builds the
student versions and the feedback, and keeps the gradebook; the autograder is the course's
own (batch.py, job.py: each submission sandboxed, the tests out of its reach), with
``COURSEKIT_QUICK=1`` unless ``quick=False``: the student's notebook runs with the same
package, data and budgets as in the test suite.
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..config import NOTEBOOKS_DIR
from .exercises import (BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, is_graded, is_solution,
                        marked_regions, nbgrader_meta, validate_notebook)

DEFAULT_TIMEOUT = 120  # seconds per cell when autograding
DEFAULT_JOB_TIMEOUT = 3600  # seconds for one submission's whole grading job
MAX_OUTPUT = 100_000  # characters of output a cell keeps in the autograded notebook
CONFIG_TEMPLATE = Path(__file__).with_name("nbgrader_config.py")
GRADES_FIELDS = ["student", "assignment", "score", "max_score", "status", "notes", "isolation"]
EXERCISE_FIELDS = ["student", "assignment", "exercise", "score", "max_score", "error"]


class GradingError(RuntimeError):
    """An nbgrader step failed for the whole course (not for one student's submission)."""


def default_course_dir() -> Path:
    """``$COURSEKIT_COURSE_DIR``, else ``~/coursekit-grading``."""
    return Path(os.environ.get("COURSEKIT_COURSE_DIR", "~/coursekit-grading")).expanduser()


def _check_timeout(timeout) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


# ---------------------------------------------------------------- the course folder

def init_course(course_dir: str | Path) -> Path:
    """Create (or refresh) the course folder: nbgrader's config and a kernel that is this Python."""
    root = Path(course_dir).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ValueError(f"course_dir must be a folder, got the file {str(root)!r}")
    root.mkdir(parents=True, exist_ok=True)
    config = CONFIG_TEMPLATE.read_text() + f"\nc.CourseDirectory.root = {str(root)!r}\n"
    (root / "nbgrader_config.py").write_text(config)
    # The kernel named "python3" (the notebooks' kernelspec) is pinned to the course's Python,
    # so a python3 kernel installed elsewhere on the TA's machine cannot grade instead.
    kernel = root / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (coursekit)", "language": "python"}, indent=1))
    for sub in ("source", "release", "submitted", "logs", "reports"):
        (root / sub).mkdir(exist_ok=True)
    return root


def _root(course_dir) -> Path:
    root = Path(course_dir).expanduser().resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise ValueError(f"{str(root)!r} is not a course folder yet: run `python -m coursekit.grading "
                         f"release --course-dir {root}` first")
    return root


def _env(root: Path, quick: bool) -> dict:
    env = dict(os.environ)
    # nbgrader calls the `alembic` script of its environment when it creates the gradebook
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["JUPYTER_PATH"] = os.pathsep.join([str(root / "jupyter")] + ([env["JUPYTER_PATH"]] if env.get("JUPYTER_PATH")
                                                                     else []))
    env["COURSEKIT_QUICK"] = "1" if quick else "0"
    env["MPLBACKEND"] = "Agg"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _nbgrader(root: Path, args: list[str], log_name: str, quick: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder; its output goes to logs/<log_name>.log."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=_env(root, quick),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    (root / "logs" / f"{log_name}.log").write_text(proc.stdout)
    return proc


def _batch(root: Path, step: str, names: list[str], everything: list[str], extra: list[str] = ("--force",),
           quick: bool = True) -> str:
    """Run ``nbgrader STEP`` for the assignments ``names``; return its output.

    nbgrader starts slowly (seconds), so when ``names`` is every assignment the step could
    see (``everything``) it runs once for all of them (assignment "*"), else once per name.
    The output is also kept as logs/<step>-<assignment>.log for each assignment.
    """
    groups = ["*"] if sorted(names) == sorted(everything) else list(names)
    output = []
    for group in groups:
        proc = _nbgrader(root, [step, group, *extra], f"{step}-{group.strip('*') or 'all'}", quick)
        output.append(proc.stdout)
    text = "\n".join(output)
    for name in names:
        (root / "logs" / f"{step}-{name}.log").write_text(text)
    return text


def _tail(text: str, n: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def _notebook(root: Path, folder: str, assignment: str, student: str | None = None) -> Path:
    parts = [folder] + ([student] if student else []) + [assignment, f"{assignment}.ipynb"]
    return root.joinpath(*parts)


# ---------------------------------------------------------------- release

def public_text(nb) -> str:
    """All cell text of a notebook with the solution and hidden-test regions cut out."""
    text = []
    for cell in nb.cells:
        keep, hidden = [], False
        for line in cell.source.split("\n"):
            if BEGIN_SOLUTION in line or BEGIN_HIDDEN in line:
                hidden = True
            elif END_SOLUTION in line or END_HIDDEN in line:
                hidden = False
            elif not hidden:
                keep.append(line)
        text.append("\n".join(keep))
    return "\n".join(text)


def leaked_lines(source_path: str | Path, released_path: str | Path) -> list[str]:
    """Lines of solution code or hidden tests in ``source_path`` that appear in ``released_path``.

    Every non-blank line between the markers is searched for in the released notebook's text;
    a line that the source also shows outside the markers (a ``return x_adv``, say) is public
    anyway and is not counted.
    """
    source = nbformat.read(str(source_path), as_version=4)
    released = "\n".join(c.source for c in nbformat.read(str(released_path), as_version=4).cells)
    public = public_text(source)
    secret = []
    for cell in source.cells:
        regions = []
        if is_solution(cell):
            regions += marked_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION)
        if is_graded(cell):
            regions += marked_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN)
        secret += [line.strip() for region in regions for line in region if line.strip()]
    return [line for line in secret if line in released and line not in public]


def assignment_names(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[str]:
    """Every notebook of the course that has exercises, by assignment name (its stem)."""
    from .exercises import exercise_notebooks
    return [p.stem for p in exercise_notebooks(notebooks_dir)]


def release(course_dir: str | Path, assignments: list[str] | None = None,
            notebooks_dir: str | Path = NOTEBOOKS_DIR) -> dict[str, Path]:
    """Build the student version of each assignment (default: every notebook with exercises).

    Copies ``notebooks/<a>.ipynb`` to ``source/<a>/``, checks its exercise cells
    (:func:`validate_notebook`), runs ``nbgrader generate_assignment`` (which also records the
    exercises in the gradebook) and checks that no solution or hidden-test line leaked.
    Returns {assignment: path of the student version}.
    """
    root = init_course(course_dir)
    notebooks_dir = Path(notebooks_dir)
    names = list(assignments or assignment_names(notebooks_dir))
    problems = []
    for name in names:
        src = notebooks_dir / f"{name}.ipynb"
        if not src.is_file():
            known = ", ".join(p.stem for p in sorted(notebooks_dir.glob("*.ipynb")))
            raise ValueError(f"no notebook named {name!r} in {notebooks_dir} (there are: {known})")
        report = validate_notebook(src)
        if not report.exercises:
            raise ValueError(f"{name} has no exercises to release")
        problems += [f"{name}: {problem}" for problem in report.problems]
    if problems:
        raise GradingError("the exercise cells break the rules of docs/EXERCISES.md:\n  " + "\n  ".join(problems))
    for name in names:
        dest = _notebook(root, "source", name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebooks_dir / f"{name}.ipynb", dest)
    in_source = sorted(p.name for p in (root / "source").iterdir() if p.is_dir())
    log = _batch(root, "generate_assignment", names, in_source)
    released = {}
    for name in names:
        out = _notebook(root, "release", name)
        if not out.is_file():
            raise GradingError(f"nbgrader generate_assignment {name} failed:\n{_tail(log)}")
        leaks = leaked_lines(notebooks_dir / f"{name}.ipynb", out)
        if leaks:
            out.unlink()
            raise GradingError(f"the student version of {name} still shows: {leaks}")
        released[name] = out
    return released


# ---------------------------------------------------------------- collect

MAX_NOTEBOOK_BYTES = 100 * 2**20  # a submission larger than this is refused, unread
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")


@dataclass
class SubmissionCheck:
    """What collect found in one student's notebook before grading it."""
    student: str
    assignment: str
    gradable: bool = True
    notes: list[str] = field(default_factory=list)


def _cell_key(cell) -> tuple:
    grade_id = nbgrader_meta(cell).get("grade_id")
    return ("exercise", grade_id) if grade_id else (cell.cell_type, cell.source.strip())


def _read_notebook(data: bytes):
    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as err:  # JSON errors, wrong schema, binary junk: all mean "not a notebook"
        raise ValueError(f"not a readable notebook ({type(err).__name__}: {str(err)[:200]})") from None


def inspect_submission(released_path: str | Path, submitted_path: str | Path) -> list[str]:
    """Plain-language notes on how a submission's cells differ from the released version.

    Raises ValueError if the submission is not a readable notebook.
    """
    sub = _read_notebook(Path(submitted_path).read_bytes())
    return _compare(nbformat.read(str(released_path), as_version=4), sub)


def _compare(rel, sub) -> list[str]:
    notes = []
    sub_cells: dict[str, list] = {}
    for cell in sub.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id:
            sub_cells.setdefault(grade_id, []).append(cell)
    for cell in rel.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if not grade_id:
            continue
        found = sub_cells.get(grade_id, [])
        kind = "test" if is_graded(cell) else "solution"
        if not found:
            notes.append(f"{kind} cell {grade_id} was deleted; " + (
                "the grader puts the test back" if kind == "test" else "that exercise can only score 0"))
            continue
        if len(found) > 1:
            notes.append(f"cell {grade_id} appears {len(found)} times; the last copy is graded")
        if found[-1].cell_type != cell.cell_type:
            notes.append(f"{kind} cell {grade_id} was changed to a {found[-1].cell_type} cell; "
                         f"the grader turns it back into {cell.cell_type}")
    a = [_cell_key(c) for c in rel.cells]
    b = [_cell_key(c) for c in sub.cells]
    inserted = deleted = edited = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "insert":
            inserted += j2 - j1
        elif op == "delete":
            deleted += sum(1 for key in a[i1:i2] if key[0] != "exercise")
        elif op == "replace":
            n_old = sum(1 for key in a[i1:i2] if key[0] != "exercise")
            n_new = sum(1 for key in b[j1:j2] if key[0] != "exercise")
            edited += min(n_old, n_new)
            inserted += max(0, n_new - n_old)
            deleted += max(0, n_old - n_new)
    for count, what in ((inserted, "inserted"), (deleted, "deleted"), (edited, "edited")):
        if count:
            notes.append(f"{count} ordinary cell{'s' if count > 1 else ''} {what}")
    return notes


def _grade_ids(nb) -> set[str]:
    return {nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("grade_id")}


def _reports_path(root: Path) -> Path:
    return root / "reports" / "collect.json"


def _load_reports(root: Path) -> dict[tuple[str, str], SubmissionCheck]:
    path = _reports_path(root)
    if not path.is_file():
        return {}
    return {(r["student"], r["assignment"]): SubmissionCheck(**r) for r in json.loads(path.read_text())}


def _keep_version(root: Path, student: str, name: str, data: bytes) -> Path:
    """Store ``data`` as versions/<student>/<name>/NNN-<sha256>.ipynb unless that exact file is there already."""
    folder = root / "versions" / student / name
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:16]
    kept = sorted(folder.glob("[0-9][0-9][0-9]-*.ipynb"))
    for old in kept:
        if old.name.endswith(f"-{digest}.ipynb"):
            return old
    path = folder / f"{len(kept) + 1:03d}-{digest}.ipynb"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def collect(course_dir: str | Path, submissions_dir: str | Path) -> list[SubmissionCheck]:
    """Copy ``<submissions_dir>/<student>/<assignment>/*.ipynb`` into the course and check each.

    Every file that comes in is kept in ``versions/<student>/<assignment>/`` (numbered in the
    order they came, never overwritten). A new notebook replaces ``submitted/`` only once it has been read and
    checked: a damaged, oversized or mislabelled file is reported and the earlier submission,
    if any, stays in place and is graded. A notebook saved under another name
    (``00_start_here (1).ipynb``) is used when it is the only one in its folder; symbolic
    links are not followed; a notebook whose exercises belong to another assignment is named
    as such. Returns one SubmissionCheck per folder.
    """
    root = _root(course_dir)
    folder = Path(submissions_dir).expanduser()
    if not folder.is_dir():
        raise ValueError(f"submissions_dir must be a folder of <student>/<assignment>/, got {str(folder)!r}")
    if folder.resolve() == (root / "submitted").resolve():
        raise ValueError("submissions_dir is the course's own submitted/ folder; give the folder the "
                         "submissions came in")
    reports = _load_reports(root)
    released = {name: nbformat.read(str(_notebook(root, "release", name)), as_version=4)
                for name in _released_names(root)}
    checks = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            check = SubmissionCheck(student_dir.name, assignment_dir.name)
            checks.append(check)
            _collect_one(root, check, assignment_dir, released, reports.get((check.student, check.assignment)))
    for check in checks:
        reports[(check.student, check.assignment)] = check
    tmp = _reports_path(root).with_suffix(".json.tmp")  # written whole or not at all (Ctrl-C)
    tmp.write_text(json.dumps([vars(c) for c in reports.values()], indent=1))
    os.replace(tmp, _reports_path(root))
    return checks


def _collect_one(root: Path, check: SubmissionCheck, folder: Path, released: dict, before) -> None:
    student, name = check.student, check.assignment
    dest = _notebook(root, "submitted", name, student)
    kept = dest.is_file()
    released_ids = {other: _grade_ids(nb) for other, nb in released.items()}

    def refuse(why: str) -> None:
        if kept:  # the earlier submission stays, and is what gets graded
            note = f"{why}; the earlier submission is kept and graded"
            check.notes[:] = [n for n in (before.notes if before else []) if n != note] + [note]
        else:
            check.gradable = False
            check.notes.append(why)

    if not _STUDENT_ID.match(student) or folder.is_symlink() or folder.parent.is_symlink():
        check.gradable = False
        check.notes.append(f"folder {student!r} is not a valid student id (letters, digits, . _ @ + -) "
                           "or is a symbolic link; not collected")
        return
    if name not in released_ids:
        check.gradable = False
        check.notes.append(f"unknown assignment {name!r} (not released in this course)")
        return
    links = sorted(p.name for p in folder.glob("*.ipynb") if p.is_symlink())
    candidates = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink())
    wanted = folder / f"{name}.ipynb"
    if wanted in candidates:
        submitted = wanted
    elif len(candidates) == 1:
        submitted = candidates[0]
        check.notes.append(f"notebook was named {submitted.name!r}; graded as {wanted.name!r}")
    else:
        found = [p.name for p in candidates] + [f"{n} (a symbolic link, not read)" for n in links]
        return refuse(f"no {wanted.name} in the submission folder" + (f" (found {found})" if found else ""))
    size = submitted.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return refuse(f"the notebook is {size / 2**20:.0f} MB, over the limit of "
                      f"{MAX_NOTEBOOK_BYTES // 2**20} MB; not read")
    data = submitted.read_bytes()
    version = _keep_version(root, student, name, data)
    try:
        nb = _read_notebook(data)
    except ValueError as err:
        return refuse(f"{err}; kept as versions/{student}/{name}/{version.name}")
    ids = _grade_ids(nb)
    if ids and not ids & released_ids[name]:
        others = [other for other, other_ids in released_ids.items() if ids & other_ids]
        if others:
            return refuse(f"this is the notebook of assignment {others[0]}, handed in as {name}; "
                          f"hand it in under {others[0]}")
    check.notes += _compare(released[name], nb)
    if kept and hashlib.sha256(dest.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


# ---------------------------------------------------------------- autograde, merge

def _submitted(root: Path, assignment: str) -> list[str]:
    return sorted(p.parent.parent.name for p in (root / "submitted").glob(f"*/{assignment}/{assignment}.ipynb"))


def _released_names(root: Path) -> list[str]:
    return sorted(p.parent.name for p in (root / "release").glob("*/*.ipynb") if p.stem == p.parent.name)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _is_current(root: Path, record: dict | None) -> bool:
    """True if ``record`` graded the notebook now in submitted/ against the source now in source/."""
    if not record or record.get("status") != "graded":
        return False
    student, name = record["student"], record["assignment"]
    return (record.get("submission_sha256") == _sha256(_notebook(root, "submitted", name, student))
            and record.get("source_sha256") == _sha256(_notebook(root, "source", name)))


def autograde(course_dir: str | Path, assignments: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
              quick: bool = True, regrade: bool = False, jobs: int = 1, shard: str | None = None,
              unsafe_no_sandbox: bool = False, progress: bool = False, limits: dict | None = None,
              job_timeout: float = DEFAULT_JOB_TIMEOUT, max_output: int = MAX_OUTPUT) -> dict[str, int]:
    """Grade the collected submissions, each as an isolated job (see batch.py and job.py).

    Submissions graded before are left alone unless a new version was collected, the
    assignment was released again with changed tests, or ``regrade``. ``jobs`` submissions run
    at once; ``shard="K/N"`` grades only the K-th of N stable shares, into shards/K-of-N/,
    for :func:`merge`. Each cell may run ``timeout`` seconds, a whole job ``job_timeout``.
    Refuses to start without a working sandbox unless ``unsafe_no_sandbox``.

    Returns {assignment: number of its submissions now graded} (in the shard, for a shard).
    Raises batch.Interrupted on Ctrl-C, after stopping the running jobs.
    """
    from . import batch, sandbox

    _check_timeout(timeout)
    _check_timeout(job_timeout)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    share = batch.parse_shard(shard)
    root = _root(course_dir)
    names = assignments or _released_names(root)
    for name in names:
        if not _notebook(root, "release", name).is_file():
            raise ValueError(f"assignment {name!r} was not released in {root}; released: {_released_names(root)}")
    iso = sandbox.isolation(unsafe_no_sandbox)
    tasks = [batch.Task(s, name) for name in names for s in _submitted(root, name)]
    out = root
    if share:
        tasks = [t for t in tasks if batch.shard_index(t, share[1]) == share[0] - 1]
        out = root / "shards" / f"{share[0]}-of-{share[1]}"
    todo = [t for t in tasks if regrade or not _is_current(root, batch.read_result(out, t))]
    runner = batch.Batch(root, out, jobs=jobs, timeout=timeout, quick=quick, isolation=iso,
                         limits={**sandbox.DEFAULT_LIMITS, **(limits or {})}, max_output=max_output,
                         job_timeout=job_timeout, shard=bool(share), progress=progress)
    runner.run(todo)
    return {name: sum(_is_current(root, batch.read_result(out, t)) for t in tasks if t.assignment == name)
            for name in names}


def merge(course_dir: str | Path, shard_dirs: list[str | Path] | None = None) -> dict[str, int]:
    """Apply the results of shard runs (default: every shards/*/ of the course) to the gradebook.

    A shard's result counts if it graded the notebook now in submitted/ against the source now
    in source/; failures are recorded too, unless a graded result is already in place.
    Returns {"merged": n, "stale": n, "failed": n}.
    """
    from . import batch

    root = _root(course_dir)
    folders = [Path(d).expanduser() for d in shard_dirs] if shard_dirs else sorted((root / "shards").glob("*-of-*"))
    counts = {"merged": 0, "stale": 0, "failed": 0}
    for folder in folders:
        if not (folder / "results").is_dir():
            raise ValueError(f"{str(folder)!r} holds no shard results (expected <shard>/results/)")
        for path in sorted((folder / "results").glob("*/*.json")):
            record = json.loads(path.read_text())
            task = batch.Task(record["student"], record["assignment"])
            if record.get("status") != "graded":
                if not _is_current(root, batch.read_result(root, task)):
                    batch._write_json(batch.result_path(root, task), record)
                counts["failed"] += 1
                continue
            if not _is_current(root, record):
                counts["stale"] += 1
                continue
            graded = folder / "autograded" / task.student / task.assignment / f"{task.assignment}.ipynb"
            dest = _notebook(root, "autograded", task.assignment, task.student)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(graded, dest)
            batch.record_grades(root, record)
            batch._write_json(batch.result_path(root, task), record)
            counts["merged"] += 1
    return counts


# ---------------------------------------------------------------- export, feedback

def grade_table(course_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """(one row per collected submission, one row per graded exercise) from the gradebook.

    Submission rows: student, assignment, score, max_score, status ("graded" or "not graded"),
    notes (what collect noticed, what happened while grading, why a submission is not graded)
    and isolation (how the student's code was isolated). "graded" means a grading job finished
    on exactly the notebook now in submitted/; the score is the gradebook's (manual scores win).
    """
    from nbgrader.api import Gradebook, MissingEntry  # nbgrader is a dev dependency

    from . import batch

    root = _root(course_dir)
    checks = _load_reports(root)
    rows, exercise_rows = [], []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "coursekit") as gb:
        for (student, name), check in sorted(checks.items()):
            notes = list(check.notes)
            row = {"student": student, "assignment": name, "score": 0.0, "max_score": 0.0,
                   "status": "not graded", "notes": notes, "isolation": ""}
            try:
                row["max_score"] = float(gb.find_assignment(name).max_score)
            except MissingEntry:
                pass
            rows.append(row)
            if not check.gradable:
                continue
            task = batch.Task(student, name)
            record = batch.read_result(root, task)
            started = batch.started_path(root, task)
            if record is None or (started.is_file() and not _is_current(root, record)):
                notes.append(f"its grading was interrupted (started {started.read_text()}); run autograde again"
                             if started.is_file() else "not autograded yet")
                continue
            row["isolation"] = record.get("isolation", "")
            if record.get("status") != "graded":
                notes.append(f"the grader failed on it: {record.get('error')}; see "
                             f"logs/failed-{name}--{student}.log; run autograde again")
                continue
            if not _is_current(root, record):
                notes.append("graded before a newer version was collected (or the tests changed); run autograde")
                continue
            notes += record["notes"]
            submission = gb.find_submission(name, student)
            row.update(score=float(submission.score), status="graded")
            errors = {x["exercise"]: x["error"] for x in record["exercises"]}
            for notebook in submission.notebooks:
                for grade in sorted(notebook.grades, key=lambda g: g.name):
                    exercise_rows.append({"student": student, "assignment": name, "exercise": grade.name,
                                          "score": float(grade.score), "max_score": float(grade.max_score),
                                          "error": errors.get(grade.name, "")})
    return rows, exercise_rows


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else "; ".join(value) if isinstance(value, list) else str(value)


def export(course_dir: str | Path, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write grades.csv (per submission) and exercises.csv (per exercise); return their paths."""
    root = _root(course_dir)
    out = Path(out_dir).expanduser() if out_dir else root
    out.mkdir(parents=True, exist_ok=True)
    rows, exercise_rows = grade_table(root)
    paths = out / "grades.csv", out / "exercises.csv"
    for path, fields, table in zip(paths, (GRADES_FIELDS, EXERCISE_FIELDS), (rows, exercise_rows)):
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows({k: _fmt(v) for k, v in row.items()} for row in table)
    return paths


def feedback(course_dir: str | Path, assignments: list[str] | None = None) -> list[Path]:
    """Write feedback/<student>/<a>/<a>.html for every autograded submission; return the paths."""
    root = _root(course_dir)
    names = assignments or _released_names(root)
    graded = {name: sorted(p.parent.parent.name for p in (root / "autograded").glob(f"*/{name}/{name}.ipynb"))
              for name in names}
    names = [name for name in names if graded[name]]
    every = sorted({p.name for p in (root / "autograded").glob("*/*") if p.is_dir()})
    log = _batch(root, "generate_feedback", names, every) if names else ""
    paths = [root / "feedback" / s / name / f"{name}.html" for name in names for s in graded[name]]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise GradingError(f"nbgrader generate_feedback wrote no {missing}:\n{_tail(log)}")
    return paths
