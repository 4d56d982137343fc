"""Exercise cells in the course notebooks: find them, and check them against the authoring rules.

An exercise is a pair of nbgrader cells (see docs/EXERCISES.md):

* a *solution cell*, metadata ``{"solution": true, "grade": false, "locked": false}``, whose
  code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is replaced by
  ``raise NotImplementedError()`` in the student version;
* its *test cell*, the next exercise cell after it, metadata ``{"grade": true,
  "locked": true, "points": N}``: visible self-checks first, then hidden tests between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, which the student version omits.

This module reads notebooks with nbformat only; it does not need nbgrader.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..config import NOTEBOOKS_DIR

# nbgrader matches its delimiters as substrings of a line (ClearSolutions, ClearHiddenTests).
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
_GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")  # the characters nbgrader accepts in a grade_id
_CHECK_CALL = re.compile(r"\bcheck_\w+\(")  # coursekit.checks.check_close / check_equal / ...


def nbgrader_meta(cell) -> dict:
    """The cell's ``nbgrader`` metadata, or {} for an ordinary cell (or metadata that is not a dict)."""
    meta = cell.get("metadata", {})
    meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    if not isinstance(meta, dict):
        return {}
    if "grade_id" in meta and not isinstance(meta["grade_id"], str):
        meta = {k: v for k, v in meta.items() if k != "grade_id"}
    return dict(meta)


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution", False))


def is_graded(cell) -> bool:
    return bool(nbgrader_meta(cell).get("grade", False))


def has_exercises(path: str | Path) -> bool:
    """True if the notebook at ``path`` has at least one nbgrader solution or graded cell."""
    nb = nbformat.read(str(path), as_version=4)
    return any(is_solution(c) or is_graded(c) for c in nb.cells)


def exercise_notebooks(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """The course notebooks (``NN_name.ipynb``) that contain exercises, in course order."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise ValueError(f"notebooks_dir must be a folder, got {str(folder)!r}")
    return [p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb")) if has_exercises(p)]


def marked_regions(source: str, begin: str, end: str) -> list[list[str]]:
    """The lines strictly between each ``begin``/``end`` marker pair of ``source``.

    Raises ValueError when the markers are unbalanced or nested, as nbgrader would.
    """
    regions, current = [], None
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            if current is not None:
                raise ValueError(f"line {number}: {begin!r} inside an open {begin!r} region")
            current = []
        elif end in line:
            if current is None:
                raise ValueError(f"line {number}: {end!r} without a {begin!r} before it")
            regions.append(current)
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        raise ValueError(f"{begin!r} is never closed by {end!r}")
    return regions


def _has_code(lines: list[str]) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in lines)


def visible_part(source: str) -> list[str]:
    """The lines of a test cell that students see (everything outside the hidden-test regions)."""
    lines, hidden = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            hidden = True
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            lines.append(line)
    return lines


def solution_bindings(source: str) -> list[tuple[str, object]]:
    """How the grader stands in for a solution cell, statement by statement.

    ``("remote", name)``: a function or class the cell defines (called in the student's kernel);
    ``("fetch", [names])``: names a statement inside the solution markers assigns (their values
    are fetched from the student's kernel); ``("run", code)``: a statement outside the markers
    (an import, a constant the exercise gives), run here as the course wrote it.
    """
    tree = ast.parse(source)
    lines = source.split("\n")
    inside, marked = False, set()
    for number, line in enumerate(lines, start=1):
        if BEGIN_SOLUTION in line:
            inside = True
        elif END_SOLUTION in line:
            inside = False
        elif inside:
            marked.add(number)
    steps: list[tuple[str, object]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            steps.append(("remote", node.name))
        elif any(n in marked for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)):
            steps.append(("fetch", sorted(_bound_names(node))))
        else:
            steps.append(("run", ast.get_source_segment(source, node)))
    return steps


def _bound_names(node: ast.AST) -> set[str]:
    """Names a top-level statement binds (not those inside functions it defines)."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in sub.names)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(sub.name)
    return names


def _grader_problems(source: str) -> list[str]:
    """Why the grader could not stand in for this solution cell (see solution_bindings), if it cannot."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        steps = solution_bindings(TransformerManager().transform_cell(source))
    except SyntaxError as err:
        return [f"the grader must parse the solution cell as Python (a cell magic cannot be used): {err.msg}"]
    if not any(kind == "remote" or (kind == "fetch" and names) for kind, names in steps):
        return ["the solution cell defines nothing the tests could use (a function, a class, or a name assigned "
                "between the solution markers)"]
    return []


@dataclass
class Exercise:
    """One solution cell and the graded test cell that follows it."""
    solution_id: str
    test_id: str
    points: float
    solution_index: int  # cell indices in the notebook
    test_index: int


@dataclass
class ExerciseReport:
    """What :func:`validate_notebook` found: the exercises, and every broken rule (empty if none)."""
    path: Path
    exercises: list[Exercise] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def max_score(self) -> float:
        return sum(e.points for e in self.exercises)


def validate_notebook(path: str | Path) -> ExerciseReport:
    """Check a notebook's exercise cells against the rules of docs/EXERCISES.md.

    Rules: grade_ids valid and unique; every nbgrader cell is a code cell with schema
    version 3; solution cells unlocked, holding balanced solution markers; graded cells
    locked, with points set (a number ≥ 0) and, where points > 0, a hidden-test region and
    a visible self-check (a ``check_…(`` call from coursekit.checks); solution cells plain
    Python that defines what the tests use (see :func:`solution_bindings`); every solution cell is
    followed by its graded test cell before the next solution cell (ordinary cells may sit in
    between); markers appear only in cells meant to carry them (nbgrader would otherwise refuse
    the notebook).
    """
    path = Path(path)
    report = ExerciseReport(path)
    nb = nbformat.read(str(path), as_version=4)
    problems = report.problems
    seen: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        where = f"cell {i}"
        source = cell.get("source", "")
        has_solution_marker = BEGIN_SOLUTION in source or END_SOLUTION in source
        has_hidden_marker = BEGIN_HIDDEN in source or END_HIDDEN in source
        if not meta:
            # nbgrader finds its markers anywhere in a line, even in prose, and then refuses to
            # release the notebook ("no end solution statement found")
            if has_solution_marker or has_hidden_marker:
                problems.append(f"{where}: {cell.cell_type} cell without nbgrader metadata contains the text "
                                f"'{BEGIN_SOLUTION}', '{END_SOLUTION}', '{BEGIN_HIDDEN}' or '{END_HIDDEN}'; "
                                "nbgrader reads it as a marker, so rephrase it")
            continue
        grade_id = meta.get("grade_id")
        where = f"cell {i} ({grade_id})"
        if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
            problems.append(f"{where}: grade_id must be letters, digits, '-' or '_', got {grade_id!r}")
        elif grade_id in seen:
            problems.append(f"{where}: grade_id {grade_id!r} is also used by cell {seen[grade_id]}")
        else:
            seen[grade_id] = i
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: schema_version must be 3, got {meta.get('schema_version')!r}")
        if meta.get("task", False):
            problems.append(f"{where}: task cells (manually graded) are not used in this course")
        if cell.cell_type != "code":
            problems.append(f"{where}: exercise cells must be code cells, got {cell.cell_type!r}")
            continue
        try:
            solutions = marked_regions(source, BEGIN_SOLUTION, END_SOLUTION)
            hidden = marked_regions(source, BEGIN_HIDDEN, END_HIDDEN)
        except ValueError as err:
            problems.append(f"{where}: unbalanced markers: {err}")
            continue
        if meta.get("solution") and meta.get("grade"):
            problems.append(f"{where}: a cell is either a solution cell or a graded test cell, not both")
        elif meta.get("solution"):
            if meta.get("locked", False):
                problems.append(f"{where}: a solution cell must not be locked")
            if not solutions or not any(_has_code(r) for r in solutions):
                problems.append(f"{where}: solution cell without code between the solution markers")
            if hidden:
                problems.append(f"{where}: hidden tests belong in the graded test cell, not the solution cell")
            problems += [f"{where}: {p}" for p in _grader_problems(source)]
            # its test: the first exercise cell after it, which must be graded (not the next solution)
            following = next((j for j in range(i + 1, len(nb.cells))
                              if is_solution(nb.cells[j]) or is_graded(nb.cells[j])), None)
            if following is None or not (is_graded(nb.cells[following]) and not is_solution(nb.cells[following])):
                problems.append(f"{where}: a solution cell must be followed by its graded test cell, "
                                "before the next solution cell")
            else:
                test_meta = nbgrader_meta(nb.cells[following])
                points = test_meta.get("points")
                report.exercises.append(Exercise(grade_id, test_meta.get("grade_id"),
                                                 float(points) if isinstance(points, (int, float)) else 0.0,
                                                 i, following))
        elif meta.get("grade"):
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
                problems.append(f"{where}: graded cells need 'points' set to a number >= 0, got {points!r}")
                points = 0
            if not meta.get("locked", False):
                problems.append(f"{where}: a graded test cell must be locked (students must not edit tests)")
            if solutions:
                problems.append(f"{where}: solution markers in a graded test cell")
            if points > 0 and not any(_has_code(r) for r in hidden):
                problems.append(f"{where}: {points} points but no hidden tests between the hidden-test markers")
            if not _CHECK_CALL.search("\n".join(visible_part(source))):
                problems.append(f"{where}: no visible self-check (a check_close/check_equal call from "
                                "coursekit.checks) before the hidden tests")
        else:
            problems.append(f"{where}: nbgrader metadata that is neither a solution nor a graded cell")
    return report
