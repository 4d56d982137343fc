"""Self-contained slow work, started when the session begins at the lowest CPU priority.

Two modules need minutes of work that depends on nothing else the session does: the book's
quick build (test_site.py) and the wrong-answer reports (test_wrong_answers.py). Most other
tests leave one of CI's two cores idle (one thread, waiting on a browser or a kernel), so
conftest.py starts that work as soon as the session's tests are collected, for the modules
the session will run, under ``nice -n 19``: it takes only CPU time no test wants, and is done,
or nearly, when its module comes. Each module's fixture takes the result from here, or does
the work itself when nothing was started (a run of that module alone does both the same
way). What still runs when the session ends is killed with its child processes.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

NICE = 19
ROOT = Path(__file__).resolve().parent.parent


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def build_book_argv(work: Path) -> list[str]:
    """The quick book build that test_site.py checks: two notebooks at once, one thread each."""
    return [sys.executable, "-m", "tools.build_site", "--quick", "--jobs", "2",
            "--work", str(work), "--out", str(work / "site")]


class Book:
    """The book built in the background: (site folder, git status before, right after)."""

    def __init__(self):
        self.work = Path(tempfile.mkdtemp(prefix="coursekit-book-"))
        self.before = git_status()
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.log = open(self.work / "build.log", "w+")
        self.proc = subprocess.Popen(["nice", "-n", str(NICE)] + build_book_argv(self.work), cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.done: Future = Future()
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self):
        code = self.proc.wait()
        self.done.set_result((code, git_status()))   # "after" is taken the moment the build ends

    def result(self) -> tuple[Path, str, str]:
        code, after = self.done.result()
        self.log.seek(0)
        assert code == 0, f"make site failed:\n{self.log.read()[-8000:]}"
        return self.work / "site", self.before, after

    def stop(self):
        _kill(self.proc)
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)


class Reports:
    """The wrong-answer reports of some notebooks, two workers at a time."""

    def __init__(self, notebooks: list[Path]):
        from tools.wrong_answers import finish, start
        self.procs: list[subprocess.Popen] = []
        self.stopping = False
        lock = threading.Lock()

        def one(notebook):
            with lock:
                if self.stopping:
                    raise RuntimeError("the session ended first")
                proc = start(notebook, nice=NICE)
                self.procs.append(proc)
            return finish(proc)

        self.pool = ThreadPoolExecutor(max_workers=2)
        self.futures = {notebook: self.pool.submit(one, notebook) for notebook in notebooks}

    def stop(self):
        self.stopping = True
        for proc in self.procs:
            _kill(proc)
        self.pool.shutdown(cancel_futures=True)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


STARTED: dict[str, object] = {}   # "book" -> Book, "reports" -> Reports


def start_for(items) -> None:
    """Start what the collected test ``items`` will need."""
    files = {item.path.name for item in items}
    if "test_site.py" in files and not os.environ.get("COURSEKIT_SITE") and any(
            "built" in getattr(item, "fixturenames", ()) for item in items):
        STARTED["book"] = Book()
    notebooks = []
    for item in items:
        notebook = getattr(getattr(item, "callspec", None), "params", {}).get("report")
        if item.path.name == "test_wrong_answers.py" and notebook is not None and notebook not in notebooks:
            notebooks.append(notebook)
    if notebooks:
        STARTED["reports"] = Reports(notebooks)


def stop_all() -> None:
    for started in STARTED.values():
        started.stop()
    STARTED.clear()
