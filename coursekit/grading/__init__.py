"""Assignments and grading with nbgrader: the student versions, batch autograding, feedback.

The course notebooks are the only source of the exercises. ``python -m coursekit.grading``
builds an nbgrader course folder from them and runs the TA's loop (docs/TEACHING.md)::

    release  ->  collect  ->  autograde  ->  export  ->  feedback

The authoring rules for exercise cells are in docs/EXERCISES.md and checked by
:func:`validate_notebook`.
"""
from .course import (DEFAULT_TIMEOUT, GradingError, SubmissionCheck, assignment_names, autograde, collect,
                     default_course_dir, export, feedback, grade_table, init_course, inspect_submission,
                     leaked_lines, release)
from .exercises import Exercise, ExerciseReport, exercise_notebooks, has_exercises, validate_notebook

__all__ = ["DEFAULT_TIMEOUT", "Exercise", "ExerciseReport", "GradingError", "SubmissionCheck", "assignment_names",
           "autograde", "collect", "default_course_dir", "exercise_notebooks", "export", "feedback", "grade_table",
           "has_exercises", "init_course", "inspect_submission", "leaked_lines", "release", "validate_notebook"]
