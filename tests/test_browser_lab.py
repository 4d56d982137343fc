"""The student's JupyterLab (``make lab``, tools/lab.py): their own copies, no instructor tools,
and a course notebook that runs through the UI without touching the repository.

The copies logic is tested directly; the rest in headless Chromium (tests/browser_helpers.py).
"""
from __future__ import annotations

import hashlib
import json
import subprocess

import nbformat
import pytest

from browser_helpers import (ROOT, browser, lab_env, new_page, open_notebook, run_all, save, start_lab,  # noqa: F401
                             stop_lab, student_lab)
from tools import lab as student


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


# ------------------------------------------------------------------ the copies (no browser)

def test_copies_are_made_once_never_overwritten_and_updates_are_named(tmp_path):
    course, mine = tmp_path / "course", tmp_path / "mine"
    course.mkdir()
    for name in ("00_a", "01_b"):
        (course / f"{name}.ipynb").write_text(f"course {name}")
    lines = student.prepare(mine, course)
    assert sorted(p.name for p in mine.glob("*.ipynb")) == ["00_a.ipynb", "01_b.ipynb"]
    assert "New copies made: 00_a.ipynb, 01_b.ipynb." in lines

    (mine / "00_a.ipynb").write_text("my work")                  # the student works ...
    (course / "01_b.ipynb").write_text("course 01_b, updated")   # ... and the course updates 01
    (course / "02_c.ipynb").write_text("course 02_c")            # and adds 02
    lines = student.prepare(mine, course)
    assert (mine / "00_a.ipynb").read_text() == "my work"
    assert (mine / "01_b.ipynb").read_text() == "course 01_b"    # never overwritten
    assert (mine / "02_c.ipynb").read_text() == "course 02_c"
    assert any("updated 01_b.ipynb" in line and "rename your copy" in line for line in lines), lines
    assert not any("00_a" in line for line in lines[1:] if "updated" in line)

    (mine / "01_b.ipynb").rename(mine / "01_b (mine).ipynb")    # what the message advises
    lines = student.prepare(mine, course)
    assert (mine / "01_b.ipynb").read_text() == "course 01_b, updated"
    assert not any("updated" in line for line in lines)


def test_the_students_folder_is_ignored_by_git_and_the_lab_config_is_per_command():
    ignored = subprocess.run(["git", "check-ignore", "-q", "my-notebooks/01_adversarial_examples.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, "my-notebooks/ must be git-ignored"
    env = student.student_env()
    assert env["JUPYTER_CONFIG_PATH"].split(":")[0] == str(ROOT / "jupyter-student")
    page_config = json.loads((ROOT / "jupyter-student" / "labconfig" / "page_config.json").read_text())
    assert page_config["disabledExtensions"] == {"@jupyter/nbgrader": True}


# ------------------------------------------------------------------ the lab in a browser

def nbgrader_ui(page) -> list[str]:
    """What of nbgrader's UI the page shows: its menu, its toolbar buttons, its panels."""
    return page.evaluate("""() => [
        ...[...document.querySelectorAll('.lm-MenuBar-item')].map(e => e.textContent.trim())
            .filter(t => /nbgrader/i.test(t)),
        ...[...document.querySelectorAll('[id*=nbgrader], [class*=nbgrader], [data-command*=nbgrader]')]
            .map(e => e.id || e.className || e.dataset.command)]""")


def test_students_lab_has_no_instructor_tools_and_greets_with_no_warning(student_lab, new_page):
    page, log = new_page()
    open_notebook(page, student_lab, "00_start_here.ipynb")
    page.wait_for_timeout(2000)    # what greets: notifications come a moment after the page
    assert nbgrader_ui(page) == []
    config = json.loads(page.locator("#jupyter-config-data").text_content())
    assert "@jupyter/nbgrader" in config["disabledExtensions"]
    assert page.locator(".Toastify__toast").count() == 0, page.locator(".Toastify__toast").all_inner_texts()
    startup = student_lab.log_text().split("Use Control-C to stop this server")[0]   # until it is up
    assert "is running at" in startup
    assert "nbgrader" not in startup.lower()
    assert [line for line in startup.splitlines() if line.startswith("[W")] == []
    assert log.errors == []


def test_the_tas_lab_shows_nbgrader(tmp_path, new_page):
    """The control for the test above: the same check finds nbgrader's UI where it belongs."""
    from coursekit.grading import init_course
    init_course(tmp_path / "course")
    env = lab_env(tmp_path)
    env["COURSEKIT_COURSE_DIR"] = str(tmp_path / "course")
    lab = start_lab(["--ta"], tmp_path / "course", tmp_path, env=env)
    try:
        page, _ = new_page()
        page.goto(f"{lab.url}/lab?reset&token={lab.token}")
        page.wait_for_selector("li.lm-MenuBar-item")
        page.wait_for_function("() => [...document.querySelectorAll('.lm-MenuBar-item')]"
                               ".some(e => /nbgrader/i.test(e.textContent))", timeout=60_000)
        assert "Nbgrader" in nbgrader_ui(page)
    finally:
        stop_lab(lab)


@pytest.mark.slow
def test_a_notebook_runs_through_the_ui_in_the_students_copy(student_lab, new_page):
    name = "00_start_here.ipynb"
    status, course = git_status(), hashlib.sha256((ROOT / "notebooks" / name).read_bytes()).hexdigest()
    page, log = new_page()
    open_notebook(page, student_lab, name)
    run_all(page)
    save(page)
    nb = nbformat.read(student_lab.root / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == [], f"{name} failed in the browser: {errors[0].ename}: {errors[0].evalue}"
    assert all(c.execution_count for c in code), "Run All stopped before the last cell"
    assert hashlib.sha256((ROOT / "notebooks" / name).read_bytes()).hexdigest() == course
    assert git_status() == status, "running a notebook changed the repository"
    assert log.errors == []
