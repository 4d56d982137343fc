"""Headless Chromium for the browser tests (test_browser_*.py, test_site.py), driven by Playwright.

The browser is Debian's ``chromium`` (or ``$COURSEKIT_CHROMIUM``); Playwright's own browser
download is never used. Without Chromium or Playwright the tests skip and say why; under
``COURSEKIT_REQUIRE_BROWSER=1`` (set by .ci/run) they fail instead, so CI cannot pass by skipping.

A failing test leaves a screenshot of each page it opened in build/browser-failures/ (or
``$COURSEKIT_SCREENSHOTS``), named after the test.

The fixtures are imported by the test modules (``from browser_helpers import ...``), which keeps
them out of the shared conftest.py.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
LAPTOP = {"width": 1366, "height": 768}   # the smallest common laptop screen


def chromium_path() -> str | None:
    for candidate in (os.environ.get("COURSEKIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _unavailable(reason: str):
    if os.environ.get("COURSEKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests must run here (COURSEKIT_REQUIRE_BROWSER=1) but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason} (apt-get install chromium; pip install playwright)")


def screenshot_dir() -> Path:
    return Path(os.environ.get("COURSEKIT_SCREENSHOTS", ROOT / "build" / "browser-failures"))


_SHARED: dict = {}   # the fixtures below are imported by several modules: one browser, one lab


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session, with a fresh profile (Playwright's temporary one)."""
    if "browser" in _SHARED:
        yield _SHARED["browser"]
        return
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium found (looked for $COURSEKIT_CHROMIUM, /usr/bin/chromium, chromium on PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as p:
        _SHARED["browser"] = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield _SHARED["browser"]
        _SHARED.pop("browser").close()


@dataclass
class PageLog:
    """What a page said in the console and which requests failed or left the machine."""
    errors: list[str] = field(default_factory=list)        # console errors, uncaught exceptions
    failed: list[str] = field(default_factory=list)        # requests that failed
    external: list[str] = field(default_factory=list)      # requests to anything but file:, data:, localhost

    def attach(self, page):
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        page.on("request", lambda r: None if re.match(r"(file|data|blob):|https?://(127\.0\.0\.1|localhost)[:/]",
                                                      r.url) else self.external.append(r.url))


@pytest.fixture
def new_page(browser, request):
    """``new_page(width, height) -> (page, log)``; screenshots of every page kept on failure."""
    pages, failed_before = [], request.session.testsfailed

    def make(width: int = LAPTOP["width"], height: int = LAPTOP["height"]):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(60_000)
        log = PageLog()
        log.attach(page)
        pages.append(page)
        return page, log

    yield make
    if request.session.testsfailed > failed_before:   # this test's call phase failed
        folder = screenshot_dir()
        folder.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(pages):
            target = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}-{i}.png"
            try:
                page.screenshot(path=str(target), full_page=False)
                print(f"screenshot of the failing page: {target}")
            except Exception as err:   # a crashed page cannot be photographed; say so
                print(f"no screenshot of page {i}: {err}")
    for page in pages:
        page.context.close()


# ----------------------------------------------------------------------- JupyterLab

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def shutdown_kernels(self) -> None:
        """Stop every kernel this lab started (each test's notebook has its own)."""
        with urllib.request.urlopen(f"{self.url}/api/sessions?token={self.token}", timeout=10) as r:
            sessions = json.load(r)
        for session in sessions:
            request = urllib.request.Request(f"{self.url}/api/sessions/{session['id']}?token={self.token}",
                                             method="DELETE")
            urllib.request.urlopen(request, timeout=30).close()


def lab_env(tmp: Path) -> dict:
    """The environment of a JupyterLab under test: quick mode, one thread, this checkout's
    package, figures drawn inline, and JupyterLab's settings and workspaces in ``tmp``."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)       # the suite's Agg would keep figures out of the notebook
    env.update(COURSEKIT_QUICK="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    return env


def start_lab(command: list[str], root: Path, tmp: Path, env: dict | None = None, timeout: float = 120) -> Lab:
    """Start ``command`` (a tools.lab invocation) on a free port; wait until it answers."""
    port, token = free_port(), secrets.token_hex(16)
    log = tmp / "lab.log"
    args = [sys.executable, "-m", "tools.lab", *command, "--", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, cwd=ROOT, env=env or lab_env(tmp), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                if r.status == 200:
                    return Lab(url, token, root, log, process)
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"JupyterLab did not start; its log:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)


def stop_lab(lab: Lab) -> None:
    lab.process.terminate()
    try:
        lab.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        lab.process.kill()
        lab.process.wait()


@pytest.fixture(scope="session")
def student_lab(browser, tmp_path_factory):
    """The student's lab exactly as ``make lab`` starts it, on copies in a scratch folder."""
    if "lab" in _SHARED:
        yield _SHARED["lab"]
        return
    tmp = tmp_path_factory.mktemp("student-lab")
    work = tmp / "my-notebooks"
    _SHARED["lab"] = start_lab(["--dir", str(work)], work, tmp)
    yield _SHARED["lab"]
    stop_lab(_SHARED.pop("lab"))


def kernel_state(lab: Lab, name: str) -> dict | None:
    """The server's record of the kernel behind notebook ``name`` (connections, execution_state)."""
    with urllib.request.urlopen(f"{lab.url}/api/sessions?token={lab.token}", timeout=10) as r:
        kernels = [s["kernel"] for s in json.load(r) if s["path"] == name]
    return kernels[0] if kernels else None


def open_notebook(page, lab: Lab, name: str, timeout: float = 120):
    """Open ``name`` in a fresh JupyterLab workspace; return once its kernel is connected to the
    page and idle (the page's own indicator says "idle" before the connection exists, so ask
    the server)."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kernel = kernel_state(lab, name)
        if kernel and kernel["connections"] >= 1 and kernel["execution_state"] == "idle":
            wait_idle(page)
            return
        time.sleep(0.25)
    raise TimeoutError(f"the kernel of {name} did not connect within {timeout} s")


def settle(lab: Lab, name: str, quiet_s: float = 1.0, timeout: float = 60):
    """Wait until the kernel of ``name`` has been idle for ``quiet_s``: a slider sends its
    values one after another, each handled as a message of its own."""
    deadline, quiet_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        idle = kernel_state(lab, name)["execution_state"] == "idle"
        quiet_since = (quiet_since or time.monotonic()) if idle else None
        if quiet_since and time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the kernel of {name} was still busy after {timeout} s")


def wait_idle(page, timeout: float = 300_000):
    """Wait for the kernel: started, and idle with no cell queued or running."""
    page.wait_for_function(
        """() => {
            const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
            const busy = [...document.querySelectorAll('.jp-InputArea-prompt')].some(p => p.textContent.includes('*'));
            return status && status.getAttribute('data-status') === 'idle' && !busy;
        }""", timeout=timeout)


def menu(page, title: str, command: str):
    """Click menu ``title`` in the menu bar, then its item that runs ``command`` (Lumino acts on
    an item only once the pointer has entered it, as a person's would)."""
    page.click(f"li.lm-MenuBar-item:has-text('{title}')")
    item = page.locator(f"li.lm-Menu-item[data-command='{command}']")
    item.hover()
    page.wait_for_selector(f"li.lm-Menu-item.lm-mod-active[data-command='{command}']")
    item.click()


def run_all(page, timeout: float = 300_000):
    """Menu Run > Run All Cells, as a student would, then wait until everything has run (or
    stopped at an error). Run All queues every cell at once, so each shows [*] until it ran."""
    menu(page, "Run", "runmenu:run-all")
    page.wait_for_function("() => [...document.querySelectorAll('.jp-InputArea-prompt')]"
                           ".some(p => p.textContent.includes('*'))", polling=20, timeout=30_000)
    wait_idle(page, timeout)


def save(page):
    """Menu File > Save Notebook; wait until the tab is no longer marked dirty."""
    menu(page, "File", "docmanager:save")
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=30_000)


def scratch_notebook(folder: Path, name: str, *cells: str) -> str:
    """Write a notebook of code ``cells`` into ``folder``; return its name."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, folder / name)
    return name


def code_cell(page, index: int):
    return page.locator(".jp-Notebook .jp-CodeCell").nth(index)


def run_cell(page, index: int, timeout: float = 120_000) -> str:
    """Run code cell ``index`` as a student does (click it, Ctrl+Enter); return its output text."""
    cell = code_cell(page, index)
    prompt = cell.locator(".jp-InputArea-prompt")
    before = prompt.inner_text()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    page.wait_for_function("([el, before]) => el.textContent !== before && !el.textContent.includes('*')",
                           arg=[prompt.element_handle(), before], timeout=timeout)
    return cell.locator(".jp-OutputArea-output").last.inner_text()


def drag(page, handle, dx: float, steps: int = 10):
    """Press the mouse on ``handle``, move it ``dx`` pixels sideways, release."""
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=steps)
    page.mouse.up()
