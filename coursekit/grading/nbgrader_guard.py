"""Keeps nbgrader's own autograder from running students' code unsandboxed (see nbgrader_config.py)."""
from nbgrader.preprocessors import NbGraderPreprocessor


class RefuseUnsafeAutograde(NbGraderPreprocessor):
    """Stops ``nbgrader autograde`` in this course folder with the command to use instead."""

    def preprocess(self, nb, resources):
        raise RuntimeError("this course grades with `python -m coursekit.grading autograde`, which isolates the "
                           "students' code; nbgrader's own autograde would run it as you (see docs/TEACHING.md)")
