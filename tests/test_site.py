"""The course book (``make site``, tools/build_site.py), built here from quick-mode runs of every
notebook, then read as an offline reader does: from file:// URLs in headless Chromium that may
fetch nothing from the network.

Set ``COURSEKIT_SITE=build/site-quick`` to check a book built already instead of building one
(``make site-quick``); the build itself is then not tested.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from browser_helpers import ROOT, browser, new_page  # noqa: F401
from tools.build_site import static_widgets

pytestmark = pytest.mark.slow
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FALLBACK = re.compile(r"\b(VBox|HBox|Box|interactive|Output|FloatSlider|IntSlider)\(children=|\b[A-Z]\w+\(value=")


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(site folder, git status before the build, after it)."""
    if os.environ.get("COURSEKIT_SITE"):
        return Path(os.environ["COURSEKIT_SITE"]).resolve(), None, None
    work = tmp_path_factory.mktemp("book")
    before = git_status()
    done = subprocess.run([sys.executable, "-m", "tools.build_site", "--quick", "--jobs", "2",   # one thread each
                           "--work", str(work), "--out", str(work / "site")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"make site failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return work / "site", before, git_status()


@pytest.fixture(scope="module")
def site(built):
    return built[0]


class Page(HTMLParser):
    """The parts of a built page the tests read: links, images, scripts, styles, text."""

    def __init__(self, path: Path):
        super().__init__()
        self.links, self.images, self.scripts, self.styles, self.text = [], [], [], [], []
        self.feed(path.read_text())

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "a" and a.get("href"):
            self.links.append((a["href"], classes))
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.styles.append(a["href"])

    def handle_data(self, data):
        self.text.append(data)


def pages(site: Path) -> list[Path]:
    return [site / "notebooks" / f"{p.stem}.html" for p in NOTEBOOKS]


def test_running_every_notebook_for_the_book_leaves_git_status_clean(built):
    site, before, after = built
    if before is None:
        pytest.skip("COURSEKIT_SITE: checking a book built elsewhere")
    assert after == before, f"executing the notebooks changed the repository:\n{after}"


def test_the_front_page_is_the_readme_overview_and_lists_the_notebooks_in_order(site):
    index = Page(site / "index.html")
    text = " ".join(index.text)
    readme_title = (ROOT / "README.md").read_text().splitlines()[0].lstrip("# ").strip()
    assert readme_title in text and "The course" in text
    nav = []
    for href, _ in index.links:
        name = Path(href.split("#")[0]).stem
        if href.startswith("notebooks/") and name not in nav:
            nav.append(name)
    assert nav == [p.stem for p in NOTEBOOKS], "the book's pages are not the notebooks in course order"
    assert all(page.is_file() for page in pages(site))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_page_has_its_figures_and_its_two_downloads_and_no_widget_text(site, notebook):
    path = site / "notebooks" / f"{notebook.stem}.html"
    page = Page(path)
    figures = [src for src in page.images if src.startswith("data:image/png") or src.endswith(".png")]
    assert figures, f"{path.name} shows no figure"
    downloads = [href for href, classes in page.links if "download" in classes and href.endswith(".ipynb")]
    assert len(downloads) == 2, f"{path.name} links {downloads}, expected the notebook and its student version"
    course, student = (path.parent / href for href in downloads)
    assert course.read_bytes() == notebook.read_bytes(), "the notebook to download is not the course's"
    released = nbformat.read(student, as_version=4)
    source = "\n".join(c.source for c in released.cells)
    assert "### BEGIN SOLUTION" not in source and "raise NotImplementedError()" in source
    text = " ".join(page.text)
    assert not FALLBACK.search(text), f"a widget shows as text: {FALLBACK.search(text).group(0)!r}"
    assert not [src for src in page.scripts + page.styles if re.match(r"(https?:)?//", src)], "loads from the network"


def test_pages_read_offline_with_no_console_error_every_image_loaded_and_math_typeset(site, new_page):
    page, log = new_page()
    page.route(re.compile(r"^(https?|wss?)://"), lambda route: route.abort())   # an offline reader
    typeset = 0
    for path in [site / "index.html"] + pages(site):
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        if page.evaluate("() => !!(window.MathJax && MathJax.startup)"):
            page.evaluate("() => MathJax.startup.promise")
        state = page.evaluate("""() => ({
            broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
            images: document.images.length,
            math: document.querySelectorAll('.math').length,
            rendered: document.querySelectorAll('.math mjx-container').length,
            errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
            raw: [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container'))
                     .map(m => m.textContent.slice(0, 60))})""")
        where = path.relative_to(site)
        assert state["broken"] == [], f"{where}: images that did not load: {state['broken']}"
        assert state["rendered"] == state["math"] and state["errors"] == 0, f"{where}: math not typeset: {state['raw']}"
        assert log.errors == [] and log.failed == [] and log.external == [], f"{where}: {log}"
        typeset += state["rendered"]
    assert typeset > 0, "no page of the book has math to typeset"


def test_widgets_are_drawn_as_they_stood(tmp_path):
    """static_widgets on a real executed notebook: sliders with their values, an Output
    widget's figure, an Image widget; and no widget state (no widget JavaScript) left."""
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import ipywidgets as w, matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
        "import matplotlib.pyplot as plt\nfrom IPython.display import display\n"
        "out = w.Output()\nwith out:\n    fig, ax = plt.subplots(figsize=(1, 1)); display(fig); plt.close(fig)\n"
        "n = w.IntSlider(value=7, description='n')\n"
        "eps = w.SelectionSlider(options=[('0.05', 0.05), ('0.1', 0.1)], value=0.1, description='ε')\n"
        "img = w.Image(value=bytes.fromhex('89504e470d0a1a0a'), format='png')\n"
        "w.VBox([w.HBox([n, eps]), out, img, w.Button(description='real')])")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert "application/vnd.jupyter.widget-view+json" in nb.cells[0].outputs[0]["data"]
    drawn = static_widgets(nb)
    html = drawn.cells[0].outputs[0]["data"]["text/html"]
    assert list(drawn.cells[0].outputs[0]["data"]) == ["text/html"] and "widgets" not in drawn.metadata
    assert "n <b>7</b>" in html and "ε <b>0.1</b>" in html and ">real</button>" in html
    assert html.count("<img") == 2 and "data:image/png;base64,iVBORw0KGgo" in html
    assert not FALLBACK.search(html)
    json.dumps(drawn)   # still a plain notebook


def test_executed_copies_are_reused_only_while_their_inputs_are_unchanged(tmp_path, monkeypatch):
    from tools import build_site, run_notebooks
    calls = []

    def fake_execute(path, quick, out_dir, timeout):
        calls.append(path.name)
        nbformat.write(nbformat.read(path, as_version=4), out_dir / path.name)
        return 0.1, 0.1, None

    monkeypatch.setattr(run_notebooks, "execute", fake_execute)
    monkeypatch.setenv("MPLBACKEND", "Agg")          # execute_all sets the inline backend; undone after
    build_site.execute_all("quick", tmp_path)
    assert calls == [p.name for p in NOTEBOOKS]
    build_site.execute_all("quick", tmp_path)          # nothing changed: every copy reused
    assert len(calls) == len(NOTEBOOKS)
    build_site.execute_all("full", tmp_path)           # another mode: executed again
    assert len(calls) == 2 * len(NOTEBOOKS)
    stale = nbformat.read(tmp_path / NOTEBOOKS[3].name, as_version=4)
    stale.metadata["coursekit_book"]["digest"] = "0" * 64   # as if notebook or package had changed
    nbformat.write(stale, tmp_path / NOTEBOOKS[3].name)
    build_site.execute_all("full", tmp_path)
    assert calls[2 * len(NOTEBOOKS):] == [NOTEBOOKS[3].name]
    assert build_site.inputs_digest(NOTEBOOKS[0]) != build_site.inputs_digest(NOTEBOOKS[1])


def test_two_jobs_run_two_notebooks_at_once_and_keep_every_output(tmp_path, monkeypatch):
    """execute_all(jobs=2): each notebook in a kernel of its own, at the same time, each
    executed copy written with its outputs, each kernel on one thread (the caller's environment
    untouched); a failing notebook is named; jobs is checked."""
    from tools import build_site
    source = tmp_path / "notebooks"
    source.mkdir()
    for name, code in [("01_a", "import time\nstart = time.time()\ntime.sleep(3)\nprint(start, time.time())"),
                       ("02_b", "import time\nstart = time.time()\ntime.sleep(3)\nprint(start, time.time())"),
                       ("03_c", "import os\nprint(os.environ.get('OMP_NUM_THREADS'))")]:
        nb = nbformat.v4.new_notebook()
        nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(code)]
        nbformat.write(nb, source / f"{name}.ipynb")
    monkeypatch.setattr(build_site, "NOTEBOOKS", source)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    done = build_site.execute_all("quick", tmp_path / "out", jobs=2)
    assert os.environ["OMP_NUM_THREADS"] == "2"
    assert [p.name for p in done] == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]
    spans = [tuple(map(float, nbformat.read(p, as_version=4).cells[0].outputs[0]["text"].split())) for p in done[:2]]
    (a0, a1), (b0, b1) = spans
    assert a0 < b1 and b0 < a1, f"the two notebooks ran one after the other: {spans}"
    assert all(nbformat.read(p, as_version=4).metadata["coursekit_book"]["mode"] == "quick" for p in done)
    assert nbformat.read(done[2], as_version=4).cells[0].outputs[0]["text"].strip() == "1"

    (source / "03_c.ipynb").write_text((source / "03_c.ipynb").read_text().replace("import os", "1 / 0"))
    with pytest.raises(RuntimeError, match="03_c.ipynb.*ZeroDivisionError"):
        build_site.execute_all("quick", tmp_path / "out", jobs=2)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="jobs must be an int > 0"):
            build_site.execute_all("quick", tmp_path / "out", jobs=bad)
