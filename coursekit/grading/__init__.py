"""Assignments and grading with nbgrader: the student versions, batch autograding, feedback.

The course notebooks are the only source of the exercises. ``python -m coursekit.grading``
builds an nbgrader course folder from them and runs the TA's loop (docs/TEACHING.md)::

    release  ->  collect  ->  autograde  ->  export  ->  feedback

one module per step: handout.py, submissions.py, autograding.py (autograde, merge) and
grades.py (export, feedback), around the course folder of course.py.

Autograding treats every submission as hostile: each runs in its own sandbox (sandbox.py),
and the tests run in the grader's process, where the student's code cannot reach them
(job.py, remote.py). The authoring rules for exercise cells are in docs/EXERCISES.md and
checked by :func:`validate_notebook`.

The names below are imported on first use, so that the student's sandboxed kernel
(student.py) starts without loading nbformat and nbgrader.
"""
import importlib

_PUBLIC = {
    "course": ["GradingError", "default_course_dir", "init_course"],
    "handout": ["assignment_names", "leaked_lines", "release"],
    "submissions": ["SubmissionCheck", "collect", "inspect_submission"],
    "autograding": ["DEFAULT_TIMEOUT", "autograde", "merge"],
    "grades": ["export", "feedback", "grade_table"],
    "exercises": ["Exercise", "ExerciseReport", "exercise_notebooks", "has_exercises", "validate_notebook"],
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
