"""Export and feedback: the grade table from the gradebook, grades.csv and exercises.csv, feedback HTML.

The steps ``export`` and ``feedback`` of the TA's loop (the course folder is described in
course.py): what goes back to the TA and to the students once the submissions are graded.
"""
from __future__ import annotations

import csv
from pathlib import Path

from .autograding import is_current
from .course import GradingError, course_root, nbgrader_step, released_names, tail
from .submissions import load_reports

GRADES_FIELDS = ["student", "assignment", "score", "max_score", "status", "notes", "isolation"]
EXERCISE_FIELDS = ["student", "assignment", "exercise", "score", "max_score", "error"]


def grade_table(course_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """(one row per collected submission, one row per graded exercise) from the gradebook.

    Submission rows: student, assignment, score, max_score, status ("graded" or "not graded"),
    notes (what collect noticed, what happened while grading, why a submission is not graded)
    and isolation (how the student's code was isolated). "graded" means a grading job finished
    on exactly the notebook now in submitted/; the score is the gradebook's (manual scores win).
    """
    from nbgrader.api import Gradebook, MissingEntry  # nbgrader is a dev dependency

    from . import batch

    root = course_root(course_dir)
    checks = load_reports(root)
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
            if record is None or (started.is_file() and not is_current(root, record)):
                notes.append(f"its grading was interrupted (started {started.read_text()}); run autograde again"
                             if started.is_file() else "not autograded yet")
                continue
            row["isolation"] = record.get("isolation", "")
            if record.get("status") != "graded":
                notes.append(f"the grader failed on it: {record.get('error')}; see "
                             f"logs/failed-{name}--{student}.log; run autograde again")
                continue
            if not is_current(root, record):
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
    root = course_root(course_dir)
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
    root = course_root(course_dir)
    names = assignments or released_names(root)
    graded = {name: sorted(p.parent.parent.name for p in (root / "autograded").glob(f"*/{name}/{name}.ipynb"))
              for name in names}
    names = [name for name in names if graded[name]]
    every = sorted({p.name for p in (root / "autograded").glob("*/*") if p.is_dir()})
    log = nbgrader_step(root, "generate_feedback", names, every) if names else ""
    paths = [root / "feedback" / s / name / f"{name}.html" for name in names for s in graded[name]]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise GradingError(f"nbgrader generate_feedback wrote no {missing}:\n{tail(log)}")
    return paths
