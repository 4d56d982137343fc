"""Release: the student version of each assignment, built by nbgrader and checked for leaks.

The step ``release`` of the TA's loop (the course folder is described in course.py).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from ..config import NOTEBOOKS_DIR
from .course import GradingError, init_course, nbgrader_step, notebook_path, tail
from .exercises import (BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, is_graded, is_solution,
                        marked_regions, validate_notebook)


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
        dest = notebook_path(root, "source", name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebooks_dir / f"{name}.ipynb", dest)
    in_source = sorted(p.name for p in (root / "source").iterdir() if p.is_dir())
    log = nbgrader_step(root, "generate_assignment", names, in_source)
    released = {}
    for name in names:
        out = notebook_path(root, "release", name)
        if not out.is_file():
            raise GradingError(f"nbgrader generate_assignment {name} failed:\n{tail(log)}")
        leaks = leaked_lines(notebooks_dir / f"{name}.ipynb", out)
        if leaks:
            out.unlink()
            raise GradingError(f"the student version of {name} still shows: {leaks}")
        released[name] = out
    return released
