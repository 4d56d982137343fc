"""Grading many submissions: parallel jobs, a progress bar, shards, and merging what finished.

Each submission is one job (job.py) in a folder of its own, ``<out>/.jobs/<assignment>--<student>/``,
holding a copy of the student's notebook and the job's spec. ``--jobs N`` runs N of them at
once. A job's result is merged by this process only when the job has finished:

1. the autograded notebook replaces ``<out>/autograded/<student>/<a>/<a>.ipynb``;
2. the scores go into the gradebook (unless the batch is a shard, see below);
3. the result record ``<out>/results/<a>/<student>.json`` is written, last and atomically.

A submission counts as graded only through its result record, which names the exact
notebook it graded (sha256). A job that is killed, crashes or is interrupted (Ctrl-C stops
the batch and kills every running job) leaves ``<student>.started`` and no record, so the next
run grades it again, and grades.csv says what happened meanwhile.

``--shard K/N`` grades the submissions whose hash of ``assignment/student`` is K modulo N
(a stable share, whatever else is in the class), into ``<course>/shards/K-of-N/`` without
touching the gradebook; ``merge`` then applies the shards' records to the gradebook, so a
cluster's job array can spread a class over machines.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from ..config import ROOT
from . import job as job_module

# nbformat's validator pulls in jsonschema, whose optional URI grammar (rfc3987_syntax) builds
# a parser when imported: 1.3 s of CPU per job for a check notebooks never use
JOB_ENTRY = ("import sys; sys.modules.setdefault('rfc3987_syntax', None); "
             "from coursekit.grading.job import main; sys.exit(main(sys.argv[1:]))")


class Interrupted(KeyboardInterrupt):
    """The batch was stopped (Ctrl-C); ``done`` results were merged, ``left`` were not."""

    def __init__(self, done: int, left: int):
        super().__init__(f"interrupted: {done} graded, {left} not finished")
        self.done, self.left = done, left


@dataclass(frozen=True)
class Task:
    student: str
    assignment: str


def shard_index(task: Task, n: int) -> int:
    """The shard (0 … n-1) a submission belongs to: stable, whatever else is in the class."""
    digest = hashlib.sha256(f"{task.assignment}/{task.student}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'K/N' (1 ≤ K ≤ N) -> (K, N); None stays None."""
    if text is None:
        return None
    try:
        k, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"shard must be K/N with 1 <= K <= N, got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"shard must be K/N with 1 <= K <= N, got {text!r}")
    return k, n


def result_path(out: Path, task: Task) -> Path:
    return out / "results" / task.assignment / f"{task.student}.json"


def started_path(out: Path, task: Task) -> Path:
    return out / "results" / task.assignment / f"{task.student}.started"


def read_result(out: Path, task: Task) -> dict | None:
    path = result_path(out, task)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


class Batch:
    """Runs jobs in parallel and merges each as it finishes (see the module's docstring)."""

    def __init__(self, root: Path, out: Path, *, jobs: int, timeout: float, quick: bool, isolation,
                 limits: dict, max_output: int, job_timeout: float, shard: bool, progress: bool):
        self.root, self.out = root, out
        self.jobs, self.timeout, self.quick = jobs, timeout, quick
        self.isolation, self.limits, self.max_output = isolation, limits, max_output
        self.job_timeout, self.shard, self.progress = job_timeout, shard, progress
        self.running: dict[int, subprocess.Popen] = {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    # ------------------------------------------------------------ one job, in a worker thread

    def _run(self, task: Task, slot: int) -> tuple[Task, Path, int | str]:
        folder = self.out / ".jobs" / f"{task.assignment}--{task.student}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        submission = folder / "submission.ipynb"
        shutil.copyfile(self.root / "submitted" / task.student / task.assignment / f"{task.assignment}.ipynb",
                        submission)
        spec = job_module.Spec(task.student, task.assignment,
                               str(self.root / "source" / task.assignment / f"{task.assignment}.ipynb"),
                               str(submission), str(folder), timeout=self.timeout, quick=self.quick, slot=slot,
                               isolation=self.isolation.to_json(), limits=self.limits, max_output=self.max_output,
                               course_dir=str(self.root))
        (folder / "spec.json").write_text(json.dumps(vars(spec), indent=1))
        started = started_path(self.out, task)
        started.parent.mkdir(parents=True, exist_ok=True)
        started.write_text(time.strftime("%Y-%m-%d %H:%M:%S"))
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   COURSEKIT_QUICK="1" if self.quick else "0", COURSEKIT_DEVICE="cpu", MPLBACKEND="Agg")
        with open(folder / "job.log", "wb") as log:
            if self.stopping.is_set():
                return task, folder, "interrupted"
            proc = subprocess.Popen([sys.executable, "-c", JOB_ENTRY, str(folder / "spec.json")], cwd=folder,
                                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
            with self.lock:
                self.running[slot] = proc
            try:
                code = proc.wait(self.job_timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                code = f"the grading job ran past its limit of {self.job_timeout:g} s and was stopped"
            finally:
                with self.lock:
                    self.running.pop(slot, None)
        if self.stopping.is_set():
            return task, folder, "interrupted"
        return task, folder, code

    # ------------------------------------------------------------ merging, in the main thread

    def _merge(self, task: Task, folder: Path, code) -> dict:
        result_file = folder / "result.json"
        if code == 0 and result_file.is_file():
            result = json.loads(result_file.read_text())
            dest = self.out / "autograded" / task.student / task.assignment / f"{task.assignment}.ipynb"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder / "autograded.ipynb", dest)
            if not self.shard:
                record_grades(self.root, result)
        else:
            why = code if isinstance(code, str) else f"the grading job failed (exit status {code})"
            failure = folder / "failure.json"
            detail = json.loads(failure.read_text())["error"] if failure.is_file() else _tail(folder / "job.log")
            result = {"student": task.student, "assignment": task.assignment, "status": "failed", "error": why,
                      "detail": detail, "isolation": self.isolation.description}
            logs = self.out / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            (logs / f"failed-{task.assignment}--{task.student}.log").write_text(f"{why}\n\n{detail}")
        _write_json(result_path(self.out, task), result)
        started_path(self.out, task).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        return result

    # ------------------------------------------------------------ the batch

    def run(self, tasks: list[Task]) -> list[dict]:
        from tqdm.auto import tqdm

        results = []
        slots = list(range(self.jobs))
        slot_lock = threading.Lock()

        def work(task: Task):
            with slot_lock:
                slot = slots.pop()
            try:
                return self._run(task, slot)
            finally:
                with slot_lock:
                    slots.append(slot)

        bar = tqdm(total=len(tasks), desc="autograde", unit="notebook", disable=not self.progress, smoothing=0.1)
        pool = ThreadPoolExecutor(max_workers=self.jobs)
        futures = [pool.submit(work, task) for task in tasks]
        try:
            for future in as_completed(futures):
                task, folder, code = future.result()
                if code == "interrupted":
                    continue
                result = self._merge(task, folder, code)
                results.append(result)
                bar.set_postfix_str(f"{task.student}/{task.assignment}: " + (
                    f"{result['score']:g}/{result['max_score']:g}" if result["status"] == "graded" else "FAILED"))
                bar.update(1)
        except KeyboardInterrupt:
            self.stopping.set()
            for future in futures:
                future.cancel()
            with self.lock:
                for proc in self.running.values():
                    _kill(proc)
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
            raise Interrupted(len(results), len(tasks) - len(results)) from None
        pool.shutdown(wait=True)
        bar.close()
        return results


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def record_grades(root: Path, result: dict) -> None:
    """Write a finished job's scores into the gradebook (manual scores are kept and flagged)."""
    from nbgrader.api import Gradebook

    student, name = result["student"], result["assignment"]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "coursekit") as gb:
        gb.update_or_create_student(student)
        with gb.db.no_autoflush:  # nbgrader 0.9 with SQLAlchemy 2 warns otherwise (the same data is written)
            gb.update_or_create_submission(name, student)
        for ex in result["exercises"]:
            grade = gb.find_grade(ex["exercise"], name, name, student)
            grade.auto_score = ex["score"]
            grade.needs_manual_grade = grade.manual_score is not None
        gb.db.commit()
