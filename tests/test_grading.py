"""The TA's loop with nbgrader (coursekit.grading): release, collect, autograde, export, feedback.

Two course folders are built once for the module, each graded in one nbgrader batch:

* every course notebook with exercises (found at run time) is released, then submitted twice:
  the notebook itself (student "solution": must score full marks, with no cell raising) and
  the untouched student version (student "untouched": must score zero, and its first error
  must be the NotImplementedError of the first exercise);
* a synthetic class on a small two-exercise assignment built here (seconds to run, so the
  infinite loop costs one short time limit): full marks, zero, an infinite loop in exercise 1,
  deleted cells, inserted cells in a renamed file, a solution cell turned into markdown, code
  that kills the kernel, and an unreadable file.
  Its grades.csv and exercises.csv must come out exactly as the table below says.

nbgrader (0.9) is the reference implementation throughout: scores are what its autograder
writes to its gradebook.
"""
import copy
import csv
import subprocess
import sys
import time
from types import SimpleNamespace

import nbformat
import pytest

import coursekit as ck
from coursekit import grading
from coursekit.grading import exercises as ex

pytestmark = pytest.mark.timeout(1800)  # the course fixture grades every notebook twice (about 5 min of CPU)
REAL = [p.stem for p in ex.exercise_notebooks()]
MINI = "mini"
MINI_TIMEOUT = 5  # s per cell for the synthetic class, whose cells take milliseconds: the infinite
                  # loop costs this much once
REAL_TIMEOUT = 120  # s per cell for the course notebooks: a quick-mode notebook takes well under a
                    # minute in all, so a cell that runs longer is a bug the test should report


# ---------------------------------------------------------------- the synthetic assignment

def _cell(kind, source, grade_id=None, solution=False, points=None):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    if grade_id:
        meta = {"grade": points is not None, "grade_id": grade_id, "locked": not solution,
                "schema_version": 3, "solution": solution, "task": False}
        if points is not None:
            meta["points"] = points
        cell.metadata["nbgrader"] = meta
    return cell


def mini_notebook():
    """Two exercises (1 and 2 points) in the course's format; it runs in a second.

    Its self-checks stand in for coursekit.checks (same names, same messages) without
    importing the package, which would add seconds of torch import to every submission; the
    course notebooks above are the ones graded with the real package.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata.language_info = {"name": "python"}
    nb.cells = [
        _cell("markdown", "# A two-exercise assignment"),
        _cell("code", 'import os\n\nassert os.environ["COURSEKIT_QUICK"] == "1", "graded in quick mode"\n\n\n'
                      "def check_equal(name, got, expected):\n"
                      '    assert got == expected, f"{name}: expected {expected!r}, got {got!r}"\n\n\n'
                      "def check_close(name, got, expected, atol=1e-6):\n"
                      '    assert abs(got - expected) <= atol, f"{name}: expected {expected:.6g}, got {got:.6g}"\n\n\n'
                      "xs = [3, -1, 4]"),
        _cell("markdown", "**Exercise 1 (1 point).** Write `total(values)`."),
        _cell("code", "def total(values):\n    ### BEGIN SOLUTION\n    return sum(values)\n    ### END SOLUTION",
              "ex1-total", solution=True),
        _cell("code", 'check_equal("total(xs)", total(xs), 6)\n### BEGIN HIDDEN TESTS\n'
                      'check_equal("total([])", total([]), 0)\n### END HIDDEN TESTS', "ex1-total-test", points=1),
        _cell("markdown", "**Exercise 2 (2 points).** Write `mean(values)`."),
        _cell("code", "def mean(values):\n    ### BEGIN SOLUTION\n    return sum(values) / len(values)\n"
                      "    ### END SOLUTION", "ex2-mean", solution=True),
        _cell("code", 'check_close("mean(xs)", mean(xs), 2.0)\n### BEGIN HIDDEN TESTS\n'
                      'check_close("mean([1.5])", mean([1.5]), 1.5)\n### END HIDDEN TESTS', "ex2-mean-test", points=2),
        _cell("markdown", "Done."),
    ]
    return nb


def _index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if ex.nbgrader_meta(c).get("grade_id") == grade_id)


def synthetic_class(source, released):
    """{student: notebook or bytes} for the mini assignment."""
    full = source
    loop = copy.deepcopy(source)
    loop.cells[_index(loop, "ex1-total")].source = "def total(values):\n    while True:\n        pass"
    deleted = copy.deepcopy(source)
    del deleted.cells[_index(deleted, "ex1-total-test")]  # nbgrader puts the test back: still 1 point
    del deleted.cells[_index(deleted, "ex2-mean")]  # the answer itself is gone: 0 of 2
    inserted = copy.deepcopy(source)
    inserted.cells.insert(4, nbformat.v4.new_code_cell("print('scratch', total(xs))"))
    inserted.cells.insert(4, nbformat.v4.new_markdown_cell("my notes"))
    retyped = copy.deepcopy(source)
    cell = retyped.cells[_index(retyped, "ex2-mean")]
    retyped.cells[_index(retyped, "ex2-mean")] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    killer = copy.deepcopy(source)  # kills its kernel in exercise 1's test: what came after it is lost
    killer.cells[_index(killer, "ex1-total")].source = "def total(values):\n    import os\n    os._exit(1)"
    return {"full": full, "zero": released, "loop": loop, "deleted": deleted, "inserted": inserted,
            "retyped": retyped, "broken": b'{"cells": [ this is not json', "killer": killer}


# Expected grades.csv rows of the synthetic class: (student, score, max_score, status, notes).
EXPECTED_GRADES = [
    ("broken", "0", "3", "not graded", "not a readable notebook"),
    ("deleted", "1", "3", "graded", "test cell ex1-total-test was deleted; the grader puts the test back; "
                                    "solution cell ex2-mean was deleted; that exercise can only score 0"),
    ("full", "3", "3", "graded", ""),
    ("inserted", "3", "3", "graded", "notebook was named 'mini (1).ipynb'; graded as 'mini.ipynb'; "
                                     "2 ordinary cells inserted"),
    ("killer", "0", "3", "graded", "the notebook's kernel died (exit status 1) while ex1-total-test ran; "
                                   "not run after it: ex2-mean-test"),
    ("loop", "2", "3", "graded", "ex1-total-test stopped at the time limit"),
    ("retyped", "3", "3", "graded", "solution cell ex2-mean was changed to a markdown cell; "
                                    "the grader turns it back into code"),
    ("zero", "0", "3", "graded", ""),
]
# Expected exercises.csv rows: (student, exercise, score, error name).
EXPECTED_EXERCISES = [
    ("deleted", "ex1-total-test", "1", ""), ("deleted", "ex2-mean-test", "0", "NameError"),
    ("full", "ex1-total-test", "1", ""), ("full", "ex2-mean-test", "2", ""),
    ("inserted", "ex1-total-test", "1", ""), ("inserted", "ex2-mean-test", "2", ""),
    ("killer", "ex1-total-test", "0", "DeadKernelError"), ("killer", "ex2-mean-test", "0", "DeadKernelError"),
    ("loop", "ex1-total-test", "0", "CellTimeoutError"), ("loop", "ex2-mean-test", "2", ""),
    ("retyped", "ex1-total-test", "1", ""), ("retyped", "ex2-mean-test", "2", ""),
    ("zero", "ex1-total-test", "0", "NotImplementedError"), ("zero", "ex2-mean-test", "0", "NotImplementedError"),
]


# ---------------------------------------------------------------- one graded course for the module

def _submit(folder, student, assignment, content, filename=None):
    path = folder / student / assignment / (filename or f"{assignment}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        nbformat.write(content, str(path))


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course notebooks with exercises, released and graded as "solution" and "untouched"."""
    base = tmp_path_factory.mktemp("course")
    root, inbox = base / "course", base / "inbox"
    start = time.perf_counter()
    released, release_errors = {}, {}
    try:
        released = grading.release(root, REAL)  # one nbgrader run for all of them
    except (ValueError, grading.GradingError):
        for name in REAL:  # find out which notebook it was, so only its tests fail
            try:
                released.update(grading.release(root, [name]))
            except (ValueError, grading.GradingError) as err:
                release_errors[name] = str(err)
    for name, path in released.items():
        _submit(inbox, "solution", name, nbformat.read(str(ck.ROOT / "notebooks" / f"{name}.ipynb"), as_version=4))
        _submit(inbox, "untouched", name, nbformat.read(str(path), as_version=4))
    grading.collect(root, inbox)
    # our own notebooks: graded in the sandbox where there is one, without it elsewhere
    graded = grading.autograde(root, list(released), timeout=REAL_TIMEOUT, jobs=2, unsafe_no_sandbox=True)
    grades_csv, exercises_csv = grading.export(root)
    print(f"\ncourse notebooks {sorted(released)}: release, 2 submissions each, autograde, export: "
          f"{time.perf_counter() - start:.0f} s")
    return SimpleNamespace(root=root, released=released, release_errors=release_errors, graded=graded,
                           grades=_read_csv(grades_csv), exercises=_read_csv(exercises_csv))


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The synthetic class on the two-exercise assignment: one batch, then export and feedback."""
    base = tmp_path_factory.mktemp("klass")
    root, inbox, notebooks = base / "course", base / "inbox", base / "notebooks"
    notebooks.mkdir()
    nbformat.write(mini_notebook(), str(notebooks / f"{MINI}.ipynb"))
    start = time.perf_counter()
    released = grading.release(root, [MINI], notebooks_dir=notebooks)
    source = nbformat.read(str(notebooks / f"{MINI}.ipynb"), as_version=4)
    for student, content in synthetic_class(source, nbformat.read(str(released[MINI]), as_version=4)).items():
        # the inserted-cells student also saved the notebook under another name, as browsers do
        _submit(inbox, student, MINI, content, f"{MINI} (1).ipynb" if student == "inserted" else None)
    checks = grading.collect(root, inbox)
    graded = grading.autograde(root, timeout=MINI_TIMEOUT, jobs=2, unsafe_no_sandbox=True)
    grades_csv, exercises_csv = grading.export(root)
    feedback = grading.feedback(root)
    print(f"\nsynthetic class: release, {len(checks)} submissions, autograde, export, feedback: "
          f"{time.perf_counter() - start:.0f} s")
    return SimpleNamespace(root=root, released=released, checks=checks, graded=graded, feedback=feedback,
                           grades=_read_csv(grades_csv), exercises=_read_csv(exercises_csv),
                           mini_source=notebooks / f"{MINI}.ipynb")


def _row(course, student, assignment):
    rows = [r for r in course.grades if r["student"] == student and r["assignment"] == assignment]
    assert len(rows) == 1, f"expected one grades.csv row for {student}/{assignment}, got {rows}"
    return rows[0]


def _autograded(course, student, assignment):
    return nbformat.read(str(course.root / "autograded" / student / assignment / f"{assignment}.ipynb"),
                         as_version=4)


def _released(course, name):
    assert name not in course.release_errors, course.release_errors.get(name)
    return course.released[name]


# ---------------------------------------------------------------- every notebook with exercises

@pytest.mark.slow  # runs every notebook with exercises twice (minutes in all)
@pytest.mark.parametrize("name", REAL)
def test_student_version_has_no_solution_or_hidden_test(course, name):
    source = ck.ROOT / "notebooks" / f"{name}.ipynb"
    released = _released(course, name)
    assert grading.leaked_lines(source, released) == []
    text = "\n".join(c.source for c in nbformat.read(str(released), as_version=4).cells)
    n_exercises = len(ex.validate_notebook(source).exercises)
    assert text.count("raise NotImplementedError()") >= n_exercises
    for marker in (ex.BEGIN_SOLUTION, ex.END_SOLUTION, ex.BEGIN_HIDDEN, ex.END_HIDDEN):
        assert marker not in text
    # the scan can fail: the source itself does show its solution and hidden-test lines
    assert grading.leaked_lines(source, source) != []


@pytest.mark.slow  # runs every notebook with exercises twice (minutes in all)
@pytest.mark.parametrize("name", REAL)  # 02 and 04 check hooks' and callbacks' records
def test_solution_scores_full_marks(course, name):
    _released(course, name)
    row = _row(course, "solution", name)
    max_score = ex.validate_notebook(ck.ROOT / "notebooks" / f"{name}.ipynb").max_score
    assert row["status"] == "graded", row
    assert float(row["score"]) == float(row["max_score"]) == max_score, row
    errors = [(i, o.ename) for i, c in enumerate(_autograded(course, "solution", name).cells)
              if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == [], f"cells that raised when {name} was graded as submitted: {errors}"


@pytest.mark.slow  # runs every notebook with exercises twice (minutes in all)
@pytest.mark.parametrize("name", REAL)
def test_untouched_student_version_scores_zero(course, name):
    _released(course, name)
    row = _row(course, "untouched", name)
    assert row["status"] == "graded" and float(row["score"]) == 0 and float(row["max_score"]) > 0, row
    # it ran without errors up to the first unanswered exercise, which raised NotImplementedError
    nb = _autograded(course, "untouched", name)
    first = ex.validate_notebook(ck.ROOT / "notebooks" / f"{name}.ipynb").exercises[0]
    failing = [(i, o.ename) for i, c in enumerate(nb.cells) if c.cell_type == "code"
               for o in c.outputs if o.output_type == "error"]
    assert failing, "the student version raised nothing"
    i, ename = failing[0]
    assert ename == "NotImplementedError", f"first error: {ename} in cell {i}"
    assert first.solution_index <= i <= first.test_index, (
        f"first error in cell {i}, outside the first exercise (cells {first.solution_index}-{first.test_index})")


# ---------------------------------------------------------------- the synthetic class

def test_synthetic_class_grades_to_the_expected_csv(klass):
    got = [(r["student"], r["score"], r["max_score"], r["status"], r["notes"])
           for r in klass.grades if r["assignment"] == MINI]
    broken = [g for g in got if g[0] == "broken"]
    assert len(broken) == 1 and broken[0][4].startswith(EXPECTED_GRADES[0][4]), broken
    got = [g if g[0] != "broken" else g[:4] + (EXPECTED_GRADES[0][4],) for g in got]
    assert got == EXPECTED_GRADES
    got = [(r["student"], r["exercise"], r["score"], r["error"].split(":")[0])
           for r in klass.exercises if r["assignment"] == MINI]
    assert got == EXPECTED_EXERCISES
    assert klass.graded[MINI] == 7  # every readable submission was graded, in one batch


def test_feedback_is_written_for_every_graded_student(klass):
    students = sorted(s for s, _, _, status, _ in EXPECTED_GRADES if status == "graded")
    assert sorted(p.parent.parent.name for p in klass.feedback) == students
    html = (klass.root / "feedback" / "loop" / MINI / f"{MINI}.html").read_text()
    assert "Score: 2.0 / 3.0" in html  # nbgrader's feedback header: the loop cost exercise 1 only
    assert "CellTimeoutError" in html


def test_autograde_again_grades_only_new_submissions(klass):
    graded = klass.root / "autograded" / "full" / MINI / f"{MINI}.ipynb"
    before = graded.stat().st_mtime_ns
    assert grading.autograde(klass.root, timeout=MINI_TIMEOUT, unsafe_no_sandbox=True) == klass.graded
    assert graded.stat().st_mtime_ns == before  # not run again


def test_collect_notes_what_changed_without_grading(klass):
    checks = {c.student: c for c in klass.checks if c.assignment == MINI}
    assert checks["full"].notes == [] and checks["full"].gradable
    assert not checks["broken"].gradable
    assert not (klass.root / "submitted" / "broken").exists()


def test_inspect_submission_reports_duplicated_and_deleted_cells(klass, tmp_path):
    source = nbformat.read(str(klass.mini_source), as_version=4)
    doubled = copy.deepcopy(source)
    cell = doubled.cells[_index(doubled, "ex1-total")]
    doubled.cells.append(nbformat.v4.new_code_cell(cell.source, metadata=copy.deepcopy(cell.metadata)))
    del doubled.cells[0]
    path = tmp_path / "s.ipynb"
    nbformat.write(doubled, str(path))
    notes = grading.inspect_submission(klass.released[MINI], path)
    assert "cell ex1-total appears 2 times; the last copy is graded" in notes
    assert "1 ordinary cell deleted" in notes


def test_grading_refuses_to_start_without_a_sandbox_unless_told(tmp_path, monkeypatch, capsys):
    from coursekit.grading import sandbox
    from coursekit.grading.__main__ import main

    monkeypatch.setattr(sandbox, "_detect", lambda: sandbox.Isolation("none", problems=["bwrap is missing"]))
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nbformat.write(mini_notebook(), str(notebooks / f"{MINI}.ipynb"))
    root = tmp_path / "course"
    grading.release(root, [MINI], notebooks_dir=notebooks)
    _submit(tmp_path / "inbox", "full", MINI, nbformat.read(str(notebooks / f"{MINI}.ipynb"), as_version=4))
    grading.collect(root, tmp_path / "inbox")
    with pytest.raises(sandbox.SandboxUnavailable, match="bwrap is missing.*--unsafe-no-sandbox"):
        grading.autograde(root, timeout=MINI_TIMEOUT)
    assert main(["autograde", "--course-dir", str(root)]) == 2
    assert "cannot isolate the students' code on this machine" in capsys.readouterr().err
    assert not (root / "results").exists()  # nothing was graded
    assert grading.autograde(root, timeout=MINI_TIMEOUT, unsafe_no_sandbox=True) == {MINI: 1}
    (row,) = _read_csv(grading.export(root)[0])
    assert row["score"] == "3" and row["isolation"].startswith("NONE: graded with --unsafe-no-sandbox"), row


# ---------------------------------------------------------------- arguments and the command line

def test_bad_arguments_are_rejected_with_the_value(klass, tmp_path):
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got -1"):
        grading.autograde(klass.root, [MINI], timeout=-1)
    with pytest.raises(ValueError, match="not released"):
        grading.autograde(klass.root, ["99_nothing"])
    with pytest.raises(ValueError, match="submissions_dir must be a folder"):
        grading.collect(klass.root, tmp_path / "missing")
    with pytest.raises(ValueError, match="no notebook named '99_nothing'"):
        grading.release(klass.root, ["99_nothing"])
    with pytest.raises(ValueError, match="not a course folder"):
        grading.export(tmp_path)
    with pytest.raises(ValueError, match="jobs must be a positive int, got 0"):
        grading.autograde(klass.root, jobs=0)
    with pytest.raises(ValueError, match="shard must be K/N with 1 <= K <= N, got '3/2'"):
        grading.autograde(klass.root, shard="3/2")
    with pytest.raises(ValueError, match="holds no shard results"):
        grading.merge(klass.root, [tmp_path])


def test_command_line_help_and_check(capsys):
    out = subprocess.run([sys.executable, "-m", "coursekit.grading", "--help"], capture_output=True, text=True,
                         cwd=ck.ROOT)
    assert out.returncode == 0, out.stderr
    for command in ("release", "collect", "autograde", "merge", "export", "feedback", "grade", "check"):
        assert command in out.stdout
    from coursekit.grading.__main__ import main
    assert main(["check", str(ck.ROOT / "notebooks" / "00_start_here.ipynb")]) == 0
    assert "00_start_here.ipynb: 1 exercises, 1 points" in capsys.readouterr().out
    assert main(["autograde", "--course-dir", str(ck.ROOT / "no-such-course")]) == 2
    assert "not a course folder" in capsys.readouterr().err
