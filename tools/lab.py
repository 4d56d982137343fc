"""Open the course in JupyterLab: a student's lab (``make lab``) or a TA's (``make lab-ta``).

A student works in copies of their own. ``my-notebooks/`` (ignored by git) receives a copy of
every course notebook it does not hold yet, and nothing in it is ever overwritten, so running
the notebooks leaves the course's files, and ``git status``, untouched, and ``git pull`` brings
course updates without conflicts. When the course has changed a notebook since the student's
copy was made, the command says which and how to take the new version.

The student's JupyterLab shows no instructor tools: nbgrader's server extensions and lab
extension are switched off for this one command by the settings in ``jupyter-student/``
(through ``JUPYTER_CONFIG_PATH``; the environment's own Jupyter configuration is left alone),
and JupyterLab's news and update prompts are off by default there (settings/overrides.json;
a student may still turn them on).
The TA's command starts JupyterLab with nbgrader in the grading course folder
(docs/TEACHING.md).

    python -m tools.lab                      # the student's lab, in my-notebooks/
    python -m tools.lab --dir ~/advml        # copies somewhere else
    python -m tools.lab --ta                 # the TA's lab, in $COURSEKIT_COURSE_DIR
    python -m tools.lab --prepare-only       # make the copies, start nothing
    python -m tools.lab -- --port 8899       # arguments after -- go to `jupyter lab`
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STUDENT_CONFIG = ROOT / "jupyter-student"
DEFAULT_DIR = ROOT / "my-notebooks"
RECORD = ".course-versions.json"   # {notebook: sha256 of the course version it was copied from}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(work_dir: Path = DEFAULT_DIR, course_dir: Path = NOTEBOOKS) -> list[str]:
    """Copy the course notebooks missing from ``work_dir``; return the lines to tell the student."""
    work_dir.mkdir(parents=True, exist_ok=True)
    record_path = work_dir / RECORD
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    copied, updated = [], []
    for source in sorted(course_dir.glob("[0-9][0-9]_*.ipynb")):
        mine = work_dir / source.name
        if not mine.exists():
            shutil.copyfile(source, mine)
            record[source.name] = _sha256(source)
            copied.append(source.name)
        elif record.get(source.name) not in (None, _sha256(source)):
            updated.append(source.name)
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")

    where = os.path.relpath(work_dir, Path.cwd()) if work_dir.is_relative_to(Path.cwd()) else str(work_dir)
    ignored = " (git ignores them)" if work_dir == DEFAULT_DIR else ""
    lines = [f"Your own copies of the course notebooks are in {where}/{ignored}: edit and run "
             "those; notebooks/ stays as the course ships it, so `git pull` brings course updates "
             "without touching your work."]
    if copied:
        lines.append(f"New copies made: {', '.join(copied)}.")
    for name in updated:
        lines.append(f"The course has updated {name} since your copy was made; your copy is unchanged. "
                     f"To take the new version, rename your copy (to keep your work) and run this again.")
    return lines


def student_env() -> dict:
    """The environment of the student's JupyterLab: nbgrader's UI switched off."""
    env = dict(os.environ)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(STUDENT_CONFIG),
                                                               os.environ.get("JUPYTER_CONFIG_PATH")]))
    return env


def _jupyter_lab(root_dir: Path, env: dict, extra: list[str], student: bool = False):
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root_dir}"]
    if student:   # JupyterLab's default settings for this lab: no news or update prompts
        cmd.append(f"--LabApp.app_settings_dir={STUDENT_CONFIG / 'settings'}")
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")   # containers and CI run as root; ordinary users never need it
    os.execvpe(cmd[0], cmd + extra, env)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the student's folder (my-notebooks/)")
    parser.add_argument("--ta", action="store_true", help="the TA's lab: nbgrader's tools, in the course folder")
    parser.add_argument("--prepare-only", action="store_true", help="make the copies and stop")
    args = parser.parse_args(argv)
    if args.ta:
        from coursekit.grading import default_course_dir
        course = default_course_dir()
        if not (course / "nbgrader_config.py").is_file():
            print(f"No grading course folder at {course}: run `make release` first, or set "
                  "COURSEKIT_COURSE_DIR (docs/TEACHING.md).", file=sys.stderr)
            return 2
        print(f"TA's JupyterLab with nbgrader's tools, in {course}")
        _jupyter_lab(course, dict(os.environ), extra)
    lines = prepare(args.dir.resolve())
    print("\n".join(lines), flush=True)
    if not args.prepare_only:
        _jupyter_lab(args.dir.resolve(), student_env(), extra, student=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
