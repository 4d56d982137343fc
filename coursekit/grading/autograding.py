"""Autograde: grade the collected submissions as sandboxed jobs, and merge shard runs.

The step ``autograde`` of the TA's loop (the course folder is described in course.py); the
jobs themselves are batch.py's and job.py's. A result counts only while it graded exactly the
notebook now in submitted/ against the source now in source/ (:func:`is_current`).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from .course import course_root, notebook_path, released_names

DEFAULT_TIMEOUT = 120  # seconds per cell when autograding
DEFAULT_JOB_TIMEOUT = 3600  # seconds for one submission's whole grading job
MAX_OUTPUT = 100_000  # characters of output a cell keeps in the autograded notebook


def _check_timeout(timeout) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


def _submitted(root: Path, assignment: str) -> list[str]:
    return sorted(p.parent.parent.name for p in (root / "submitted").glob(f"*/{assignment}/{assignment}.ipynb"))


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def is_current(root: Path, record: dict | None) -> bool:
    """True if ``record`` graded the notebook now in submitted/ against the source now in source/."""
    if not record or record.get("status") != "graded":
        return False
    student, name = record["student"], record["assignment"]
    return (record.get("submission_sha256") == _sha256(notebook_path(root, "submitted", name, student))
            and record.get("source_sha256") == _sha256(notebook_path(root, "source", name)))


def autograde(course_dir: str | Path, assignments: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
              quick: bool = True, regrade: bool = False, jobs: int = 1, shard: str | None = None,
              unsafe_no_sandbox: bool = False, progress: bool = False, limits: dict | None = None,
              job_timeout: float = DEFAULT_JOB_TIMEOUT, max_output: int = MAX_OUTPUT) -> dict[str, int]:
    """Grade the collected submissions, each as an isolated job (see batch.py and job.py).

    Submissions graded before are left alone unless a new version was collected, the
    assignment was released again with changed tests, or ``regrade``. ``jobs`` submissions run
    at once; ``shard="K/N"`` grades only the K-th of N stable shares, into shards/K-of-N/,
    for :func:`merge`. Each cell may run ``timeout`` seconds, a whole job ``job_timeout``.
    Refuses to start without a working sandbox unless ``unsafe_no_sandbox``.

    Returns {assignment: number of its submissions now graded} (in the shard, for a shard).
    Raises batch.Interrupted on Ctrl-C, after stopping the running jobs.
    """
    from . import batch, sandbox

    _check_timeout(timeout)
    _check_timeout(job_timeout)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    share = batch.parse_shard(shard)
    root = course_root(course_dir)
    names = assignments or released_names(root)
    for name in names:
        if not notebook_path(root, "release", name).is_file():
            raise ValueError(f"assignment {name!r} was not released in {root}; released: {released_names(root)}")
    iso = sandbox.isolation(unsafe_no_sandbox)
    tasks = [batch.Task(s, name) for name in names for s in _submitted(root, name)]
    out = root
    if share:
        tasks = [t for t in tasks if batch.shard_index(t, share[1]) == share[0] - 1]
        out = root / "shards" / f"{share[0]}-of-{share[1]}"
    todo = [t for t in tasks if regrade or not is_current(root, batch.read_result(out, t))]
    runner = batch.Batch(root, out, jobs=jobs, timeout=timeout, quick=quick, isolation=iso,
                         limits={**sandbox.DEFAULT_LIMITS, **(limits or {})}, max_output=max_output,
                         job_timeout=job_timeout, shard=bool(share), progress=progress)
    runner.run(todo)
    return {name: sum(is_current(root, batch.read_result(out, t)) for t in tasks if t.assignment == name)
            for name in names}


def merge(course_dir: str | Path, shard_dirs: list[str | Path] | None = None) -> dict[str, int]:
    """Apply the results of shard runs (default: every shards/*/ of the course) to the gradebook.

    A shard's result counts if it graded the notebook now in submitted/ against the source now
    in source/; failures are recorded too, unless a graded result is already in place.
    Returns {"merged": n, "stale": n, "failed": n}.
    """
    from . import batch

    root = course_root(course_dir)
    folders = [Path(d).expanduser() for d in shard_dirs] if shard_dirs else sorted((root / "shards").glob("*-of-*"))
    counts = {"merged": 0, "stale": 0, "failed": 0}
    for folder in folders:
        if not (folder / "results").is_dir():
            raise ValueError(f"{str(folder)!r} holds no shard results (expected <shard>/results/)")
        for path in sorted((folder / "results").glob("*/*.json")):
            record = json.loads(path.read_text())
            task = batch.Task(record["student"], record["assignment"])
            if record.get("status") != "graded":
                if not is_current(root, batch.read_result(root, task)):
                    batch._write_json(batch.result_path(root, task), record)
                counts["failed"] += 1
                continue
            if not is_current(root, record):
                counts["stale"] += 1
                continue
            graded = folder / "autograded" / task.student / task.assignment / f"{task.assignment}.ipynb"
            dest = notebook_path(root, "autograded", task.assignment, task.student)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(graded, dest)
            batch.record_grades(root, record)
            batch._write_json(batch.result_path(root, task), record)
            counts["merged"] += 1
    return counts
