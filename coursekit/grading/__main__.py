"""``python -m coursekit.grading``: the TA's loop, one subcommand per step (docs/TEACHING.md)."""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from ..config import NOTEBOOKS_DIR
from . import autograding, course, grades, handout, submissions
from .batch import Interrupted
from .sandbox import SandboxUnavailable
from .exercises import exercise_notebooks, validate_notebook


def _print_checks(checks) -> None:
    for check in checks:
        state = "ok" if check.gradable else "NOT GRADABLE"
        notes = "; ".join(check.notes) or "as released"
        print(f"  {check.student:>16} / {check.assignment}: {state}: {notes}")


def _print_grades(root: Path) -> None:
    rows, _ = grades.grade_table(root)
    for row in rows:
        notes = f"  ({'; '.join(row['notes'])})" if row["notes"] else ""
        print(f"  {row['student']:>16} / {row['assignment']}: {row['score']:g} of {row['max_score']:g}, "
              f"{row['status']}{notes}")


def cmd_check(args) -> int:
    paths = [Path(p) for p in args.notebooks] or exercise_notebooks(NOTEBOOKS_DIR)
    failed = 0
    for path in paths:
        report = validate_notebook(path)
        print(f"{path.name}: {len(report.exercises)} exercises, {report.max_score:g} points")
        for problem in report.problems:
            print(f"  PROBLEM {problem}")
        failed += bool(report.problems)
    return 1 if failed else 0


def cmd_release(args) -> int:
    released = handout.release(args.course_dir, args.assignments or None)
    for name, path in released.items():
        print(f"released {name}: {path}")
        if args.to:
            dest = Path(args.to).expanduser() / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            print(f"  copied to {dest}")
    return 0


def cmd_collect(args) -> int:
    checks = submissions.collect(args.course_dir, args.submissions)
    print(f"collected {sum(c.gradable for c in checks)} of {len(checks)} submissions into "
          f"{Path(args.course_dir).expanduser().resolve() / 'submitted'}")
    _print_checks(checks)
    return 0


def cmd_autograde(args) -> int:
    start = time.perf_counter()
    try:
        graded = autograding.autograde(args.course_dir, args.assignments or None, timeout=args.timeout,
                                       quick=not args.full, regrade=args.regrade, jobs=args.jobs, shard=args.shard,
                                       unsafe_no_sandbox=args.unsafe_no_sandbox, progress=True,
                                       job_timeout=args.job_timeout, max_output=args.max_output)
    except Interrupted as stop:
        print(f"\n{stop}. Nothing half-graded was kept: run the same command again to grade the rest.",
              file=sys.stderr)
        raise SystemExit(130) from None
    for name, n in graded.items():
        print(f"graded {name}: {n} submissions" + (f" (shard {args.shard})" if args.shard else ""))
    print(f"({time.perf_counter() - start:.0f} s)")
    if not args.shard:
        _print_grades(Path(args.course_dir).expanduser().resolve())
    return 0


def cmd_merge(args) -> int:
    counts = autograding.merge(args.course_dir, args.shards or None)
    print(f"merged {counts['merged']} results into the gradebook ({counts['stale']} stale, "
          f"{counts['failed']} failed)")
    _print_grades(Path(args.course_dir).expanduser().resolve())
    return 0


def cmd_export(args) -> int:
    for path in grades.export(args.course_dir, args.out):
        print(f"wrote {path}")
    return 0


def cmd_feedback(args) -> int:
    paths = grades.feedback(args.course_dir, args.assignments or None)
    print(f"wrote {len(paths)} feedback files")
    for path in paths:
        print(f"  {path}")
    return 0


def cmd_grade(args) -> int:
    root = course.init_course(args.course_dir)
    names = args.assignments or None
    wanted = names or sorted({p.name for p in Path(args.submissions).expanduser().glob("*/*") if p.is_dir()})
    missing = [n for n in wanted if not (root / "release" / n / f"{n}.ipynb").is_file()
               and (NOTEBOOKS_DIR / f"{n}.ipynb").is_file()]
    if missing:
        cmd_release(argparse.Namespace(course_dir=args.course_dir, assignments=missing, to=None))
    cmd_collect(args)
    cmd_autograde(args)
    if args.shard:
        return 0
    cmd_export(args)
    cmd_feedback(args)
    return 0


def main(argv=None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course-dir", default=str(course.default_course_dir()),
                        help="the nbgrader course folder (default: $COURSEKIT_COURSE_DIR or ~/coursekit-grading)")
    grading = argparse.ArgumentParser(add_help=False)
    grading.add_argument("--timeout", type=float, default=autograding.DEFAULT_TIMEOUT,
                         help=f"seconds each cell may run before it is stopped (default {autograding.DEFAULT_TIMEOUT})")
    grading.add_argument("--full", action="store_true",
                         help="grade with the full budgets (default: quick mode, COURSEKIT_QUICK=1)")
    grading.add_argument("--regrade", action="store_true",
                         help="grade again the submissions graded before (default: only new or changed ones)")
    grading.add_argument("--jobs", type=int, default=1, metavar="N",
                         help="grade N submissions at once (about one CPU core each; default 1)")
    grading.add_argument("--shard", metavar="K/N",
                         help="grade only the K-th of N stable shares of the class, into shards/K-of-N/ "
                              "(then `merge`): for a cluster's job array")
    grading.add_argument("--unsafe-no-sandbox", action="store_true",
                         help="grade even where the students' code cannot be isolated (bubblewrap missing or "
                              "not working); written into grades.csv")
    grading.add_argument("--job-timeout", type=float, default=autograding.DEFAULT_JOB_TIMEOUT, metavar="S",
                         help="seconds one submission's grading may take in all "
                              f"(default {autograding.DEFAULT_JOB_TIMEOUT})")
    grading.add_argument("--max-output", type=int, default=autograding.MAX_OUTPUT, metavar="CHARS",
                         help=f"characters of output kept per cell (default {autograding.MAX_OUTPUT:,})")

    parser = argparse.ArgumentParser(prog="python -m coursekit.grading", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="check the exercise cells of notebooks against docs/EXERCISES.md")
    p.add_argument("notebooks", nargs="*", help="notebook files (default: every course notebook with exercises)")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("release", parents=[common], help="build the student versions (default: all assignments)")
    p.add_argument("assignments", nargs="*", help="assignment names, e.g. 00_start_here")
    p.add_argument("--to", help="also copy the student notebooks into this folder")
    p.set_defaults(func=cmd_release)
    p = sub.add_parser("collect", parents=[common], help="copy a folder of <student>/<assignment>/ submissions in")
    p.add_argument("submissions", help="folder holding <student>/<assignment>/<assignment>.ipynb")
    p.set_defaults(func=cmd_collect)
    p = sub.add_parser("autograde", parents=[common, grading], help="grade every collected submission, in batch")
    p.add_argument("assignments", nargs="*")
    p.set_defaults(func=cmd_autograde)
    p = sub.add_parser("merge", parents=[common], help="merge the results of --shard runs into the gradebook")
    p.add_argument("shards", nargs="*", help="shard folders (default: every <course>/shards/K-of-N/)")
    p.set_defaults(func=cmd_merge)
    p = sub.add_parser("export", parents=[common], help="write grades.csv and exercises.csv")
    p.add_argument("--out", help="folder for the CSV files (default: the course folder)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("feedback", parents=[common], help="write feedback/<student>/<assignment>/*.html")
    p.add_argument("assignments", nargs="*")
    p.set_defaults(func=cmd_feedback)
    p = sub.add_parser("grade", parents=[common, grading],
                       help="the whole loop: release if needed, collect, autograde, export, feedback")
    p.add_argument("submissions", help="folder holding <student>/<assignment>/<assignment>.ipynb")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--out", help="folder for the CSV files (default: the course folder)")
    p.set_defaults(func=cmd_grade)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, course.GradingError, SandboxUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
