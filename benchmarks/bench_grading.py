"""Grading round trip per notebook: release, collect, autograde (nbgrader), export, feedback.

Issue 10 asks that the whole round trip for one notebook take under two minutes on the
course's machine. Each row is one notebook with exercises, graded for two students (the
notebook itself, which scores full marks, and the untouched student version, which scores
zero) in quick mode; seconds are wall-clock, measured once (a round trip is minutes, and it
is dominated by running the notebooks, which `make notebooks` times as well).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import coursekit as ck
from coursekit import grading


def round_trip(name: str, base: Path) -> dict:
    root, inbox = base / "course", base / "inbox"
    times, start = {}, time.perf_counter()
    released = grading.release(root, [name])[name]
    times["release_s"] = time.perf_counter() - start
    for student, path in (("solution", ck.ROOT / "notebooks" / f"{name}.ipynb"), ("untouched", released)):
        dest = inbox / student / name / f"{name}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    step = time.perf_counter()
    grading.collect(root, inbox)
    grading.autograde(root, [name])
    times["autograde_s"] = time.perf_counter() - step
    step = time.perf_counter()
    grading.export(root)
    grading.feedback(root, [name])
    times["export_feedback_s"] = time.perf_counter() - step
    rows, _ = grading.grade_table(root)
    scores = {r["student"]: f"{r['score']:g}/{r['max_score']:g}" for r in rows}
    total = time.perf_counter() - start
    return {"notebook": name, **times, "total_s": total, "limit_s": 120.0, "under_limit": total < 120,
            "solution": scores.get("solution"), "untouched": scores.get("untouched")}


def run() -> list[dict]:
    rows = []
    for name in grading.assignment_names():
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(round_trip(name, Path(tmp)))
    return rows
