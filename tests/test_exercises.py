"""Every course notebook's exercise cells follow the authoring rules of docs/EXERCISES.md.

The rules are nbgrader's (nbgrader 0.9 cell metadata, schema version 3) plus the course's own:
each solution cell is followed by its graded test cell, graded cells carry points, hidden
tests, and a visible self-check from coursekit.checks. The second half checks that the
validator itself catches each broken rule, on small notebooks built here.
"""
import nbformat
import pytest

import coursekit as ck
from coursekit.grading import exercise_notebooks, validate_notebook
from coursekit.grading.exercises import marked_regions

NOTEBOOKS = sorted((ck.ROOT / "notebooks").glob("*.ipynb"))
EXERCISE_NOTEBOOKS = exercise_notebooks()


def test_some_notebook_has_exercises():
    # 00_start_here shows the format with one exercise, so the list can never be empty
    assert ck.ROOT / "notebooks" / "00_start_here.ipynb" in EXERCISE_NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_cells_follow_the_rules(path):
    report = validate_notebook(path)
    assert not report.problems, f"{path.name}:\n  " + "\n  ".join(report.problems)
    if path in EXERCISE_NOTEBOOKS:
        assert report.exercises and report.max_score > 0
        ids = [e.solution_id for e in report.exercises] + [e.test_id for e in report.exercises]
        assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- the validator catches each rule

def _meta(grade_id, solution=False, grade=False, points=None, locked=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": (not solution) if locked is None else locked,
            "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


SOLUTION = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
TEST = ('check_equal("f(1)", f(1), 2)\n### BEGIN HIDDEN TESTS\ncheck_equal("f(0)", f(0), 0)\n'
        "### END HIDDEN TESTS")


def _write(tmp_path, cells):
    nb = nbformat.v4.new_notebook()
    for kind, source, metadata in cells:
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(make(source, metadata=metadata or {}))
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def _good():
    return [("markdown", "Exercise", None),
            ("code", SOLUTION, _meta("ex1", solution=True)),
            ("code", TEST, _meta("ex1-test", grade=True, points=2))]


def test_a_good_exercise_passes(tmp_path):
    report = validate_notebook(_write(tmp_path, _good()))
    assert report.problems == []
    assert [(e.solution_id, e.test_id, e.points) for e in report.exercises] == [("ex1", "ex1-test", 2.0)]


@pytest.mark.parametrize("change, expected", [
    (lambda c: c.append(("code", TEST, _meta("ex1-test", grade=True, points=1))), "also used by cell"),
    (lambda c: c.__setitem__(2, ("code", TEST, _meta("ex1-test", grade=True))), "need 'points'"),
    (lambda c: c.__setitem__(2, ("code", TEST, _meta("ex1-test", grade=True, points="2"))), "need 'points'"),
    (lambda c: c.pop(2), "followed by its graded test cell"),
    (lambda c: c.insert(2, ("code", SOLUTION.replace("f(", "g("), _meta("ex0", solution=True))),
     "followed by its graded test cell"),
    (lambda c: c.__setitem__(2, ("code", 'check_equal("f(1)", f(1), 2)', _meta("ex1-test", grade=True, points=2))),
     "no hidden tests"),
    (lambda c: c.__setitem__(2, ("code", TEST.replace("check_equal(\"f(1)\", f(1), 2)", "f(1)"),
                                 _meta("ex1-test", grade=True, points=2))), "no visible self-check"),
    (lambda c: c.__setitem__(1, ("code", SOLUTION.replace("    ### END SOLUTION", ""),
                                 _meta("ex1", solution=True))), "unbalanced markers"),
    (lambda c: c.__setitem__(2, ("code", TEST.replace("### END HIDDEN TESTS", ""),
                                 _meta("ex1-test", grade=True, points=2))), "unbalanced markers"),
    (lambda c: c.__setitem__(1, ("code", SOLUTION, _meta("ex 1", solution=True))), "grade_id must be"),
    (lambda c: c.__setitem__(2, ("code", TEST, _meta("ex1-test", grade=True, points=2, locked=False))),
     "must be locked"),
    (lambda c: c.__setitem__(1, ("markdown", SOLUTION, _meta("ex1", solution=True))), "must be code cells"),
    (lambda c: c.insert(0, ("markdown", "write code between `### BEGIN SOLUTION` and `### END SOLUTION`", None)),
     "nbgrader reads it as a marker"),
    # the grader binds what a solution cell defines (coursekit.grading.exercises.solution_bindings)
    (lambda c: c.__setitem__(1, ("code", "%%time\n" + SOLUTION, _meta("ex1", solution=True))), "defines nothing"),
    (lambda c: c.__setitem__(1, ("code", "### BEGIN SOLUTION\nprint(2)\n### END SOLUTION", _meta("ex1", solution=True))),
     "defines nothing"),
])
def test_the_validator_catches_each_broken_rule(tmp_path, change, expected):
    cells = _good()
    change(cells)
    problems = validate_notebook(_write(tmp_path, cells)).problems
    assert any(expected in p for p in problems), problems


def test_marked_regions_reads_nested_and_unclosed_markers():
    assert marked_regions("a\n# BEGIN X\nb\nc\n# END X\nd", "BEGIN X", "END X") == [["b", "c"]]
    with pytest.raises(ValueError, match="inside an open"):
        marked_regions("BEGIN X\nBEGIN X\nEND X", "BEGIN X", "END X")
    with pytest.raises(ValueError, match="never closed"):
        marked_regions("BEGIN X\nb", "BEGIN X", "END X")
    with pytest.raises(ValueError, match="without"):
        marked_regions("END X", "BEGIN X", "END X")


def test_exercise_notebooks_rejects_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="must be a folder"):
        exercise_notebooks(tmp_path / "nope")
