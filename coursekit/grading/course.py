"""The course folder of the TA's loop, and running nbgrader's steps in it.

The TA's loop on top of nbgrader is ``release -> collect -> autograde -> export -> feedback``,
one module per step: handout.py (release), submissions.py (collect), autograding.py
(autograde, merge) and grades.py (export, feedback). They share the course folder, which is
nbgrader's standard layout, built outside the repository::

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

import json
import os
import subprocess
import sys
from pathlib import Path

CONFIG_TEMPLATE = Path(__file__).with_name("nbgrader_config.py")


class GradingError(RuntimeError):
    """An nbgrader step failed for the whole course (not for one student's submission)."""


def default_course_dir() -> Path:
    """``$COURSEKIT_COURSE_DIR``, else ``~/coursekit-grading``."""
    return Path(os.environ.get("COURSEKIT_COURSE_DIR", "~/coursekit-grading")).expanduser()


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


def course_root(course_dir) -> Path:
    """The course folder ``course_dir``, which :func:`init_course` must have made."""
    root = Path(course_dir).expanduser().resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise ValueError(f"{str(root)!r} is not a course folder yet: run `python -m coursekit.grading "
                         f"release --course-dir {root}` first")
    return root


def notebook_path(root: Path, folder: str, assignment: str, student: str | None = None) -> Path:
    """``<root>/<folder>/[<student>/]<assignment>/<assignment>.ipynb``."""
    parts = [folder] + ([student] if student else []) + [assignment, f"{assignment}.ipynb"]
    return root.joinpath(*parts)


def released_names(root: Path) -> list[str]:
    """The assignments released in the course folder ``root``."""
    return sorted(p.parent.name for p in (root / "release").glob("*/*.ipynb") if p.stem == p.parent.name)


# ---------------------------------------------------------------- running nbgrader

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


def nbgrader_step(root: Path, step: str, names: list[str], everything: list[str], extra: list[str] = ("--force",),
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


def tail(text: str, n: int = 25) -> str:
    """The last ``n`` lines of a log (for an error message)."""
    return "\n".join(text.rstrip().splitlines()[-n:])
