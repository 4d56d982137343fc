"""Collect: bring the students' notebooks into the course, keep every version, note what changed.

The step ``collect`` of the TA's loop (the course folder is described in course.py). What it
notices about each submission is kept in reports/collect.json and shown in grades.csv.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import course_root, notebook_path, released_names
from .exercises import is_graded, nbgrader_meta


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


def load_reports(root: Path) -> dict[tuple[str, str], SubmissionCheck]:
    """What collect noticed about each submission so far, by (student, assignment)."""
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
    root = course_root(course_dir)
    folder = Path(submissions_dir).expanduser()
    if not folder.is_dir():
        raise ValueError(f"submissions_dir must be a folder of <student>/<assignment>/, got {str(folder)!r}")
    if folder.resolve() == (root / "submitted").resolve():
        raise ValueError("submissions_dir is the course's own submitted/ folder; give the folder the "
                         "submissions came in")
    reports = load_reports(root)
    released = {name: nbformat.read(str(notebook_path(root, "release", name)), as_version=4)
                for name in released_names(root)}
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
    dest = notebook_path(root, "submitted", name, student)
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
