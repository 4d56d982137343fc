"""Grading throughput: submissions of notebook 00 per minute with --jobs 1 and --jobs 2.

A class of SUBMISSIONS copies of the course's notebook 00 (full marks each) is collected
once and autograded twice from scratch, in quick mode, in the sandbox when the machine has
one: first with one job at a time, then with two. Each grading job keeps about one core
busy (the student's kernel and the grader's take turns), so on a quiet machine with two
cores the second rate should be close to twice the first. Each row gives the wall time, the
CPU time of the jobs (user + system of the processes the batch waited for, which is what a
quiet machine's wall time would be with one job) and the load average when it started, since
a busy machine slows the wall time down and not the CPU time.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import coursekit as ck
from coursekit import grading
from coursekit.grading import sandbox

NOTEBOOK = "00_start_here"
SUBMISSIONS = int(os.environ.get("COURSEKIT_BENCH_SUBMISSIONS", "6"))


def grade_class(root: Path, jobs: int, unsafe: bool) -> dict:
    load = os.getloadavg()[0]
    cpu0, start = os.times(), time.perf_counter()
    graded = grading.autograde(root, [NOTEBOOK], jobs=jobs, regrade=True, unsafe_no_sandbox=unsafe)[NOTEBOOK]
    wall = time.perf_counter() - start
    cpu = sum(os.times()[2:4]) - sum(cpu0[2:4])
    return {"jobs": jobs, "submissions": graded, "wall_s": wall, "jobs_cpu_s": cpu,
            "per_min": 60 * graded / wall, "load_at_start": load}


def run() -> list[dict]:
    try:
        mode, unsafe = sandbox.isolation().mode, False
    except sandbox.SandboxUnavailable:
        mode, unsafe = "none (no sandbox on this machine)", True
    with tempfile.TemporaryDirectory() as tmp:
        root, inbox = Path(tmp) / "course", Path(tmp) / "inbox"
        grading.release(root, [NOTEBOOK])
        for k in range(SUBMISSIONS):
            dest = inbox / f"student{k:02d}" / NOTEBOOK / f"{NOTEBOOK}.ipynb"
            dest.parent.mkdir(parents=True)
            shutil.copyfile(ck.ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", dest)
        grading.collect(root, inbox)
        rows = [grade_class(root, jobs, unsafe) for jobs in (1, 2)]
    for row in rows:
        row["speedup"] = row["per_min"] / rows[0]["per_min"]
        row["isolation"] = mode
    return rows
