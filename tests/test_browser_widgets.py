"""The course's widgets in a real browser: the student's JupyterLab (as ``make lab`` starts it)
runs a scratch notebook that builds each widget the way its lecture does, and the test moves a
slider with the mouse or clicks a button, then compares what the page shows with what the
kernel reports (a last cell that prints the kernel's state, run again with Ctrl+Enter).

Widgets: 01's ε / digit sliders (``ipywidgets.interact`` over FGSM), 03's ε / n sliders
(``LinearDimensionDemo``), 04's latent sliders (``LatentExplorer``), 07's human rater
(``HumanRater``). Each must render as a widget, not as its text fallback, and its output must
follow the kernel. The scratch notebooks keep these tests independent of the lectures' cells.
"""
from __future__ import annotations

import hashlib
import json
import time

import pytest
import torch

from browser_helpers import (browser, code_cell, drag, new_page, open_notebook, run_all, run_cell,  # noqa: F401
                             scratch_notebook, settle, student_lab)

pytestmark = pytest.mark.slow


@pytest.fixture
def lab(student_lab):
    yield student_lab
    student_lab.shutdown_kernels()


def assert_widget(cell):
    """The cell's output is a live widget, not the text a missing widget manager shows."""
    fallback = cell.locator(".jp-OutputArea-output[data-mime-type='text/plain']")
    assert fallback.count() == 0, f"the widget was replaced by its text fallback: {fallback.first.inner_text()[:200]!r}"
    assert cell.locator(".jp-OutputArea-output .jupyter-widgets").count() > 0, "no widget in the output"


def slider(cell, label: str):
    return cell.locator(f".widget-slider:has(label.widget-label:text-is('{label}'))")


def readout(cell, label: str) -> str:
    return slider(cell, label).locator(".widget-readout").inner_text().strip()


def image_sha(img) -> str:
    """sha256 of a displayed PNG's base64 text (data: URL), as the kernel hashes its outputs."""
    return hashlib.sha256("".join(img.get_attribute("src").split(",", 1)[1].split()).encode()).hexdigest()


def move(page, lab, name, cell, label: str, dx: float):
    """Drag slider ``label`` by ``dx`` px, then wait until the kernel has handled every value."""
    value = readout(cell, label)
    drag(page, slider(cell, label).locator(".noUi-handle"), dx)
    assert readout(cell, label) != value, f"dragging the {label} slider did not move it"
    settle(lab, name)


def widget_notebook(new_page, lab, name: str):
    """Open scratch notebook ``name`` and Run All; (page, its log, the first cell: the widget's)."""
    page, log = new_page()
    open_notebook(page, lab, name)
    run_all(page)
    cell = code_cell(page, 0)
    assert_widget(cell)
    return page, log, cell


def redraw_once(page, lab, name: str, cell, label: str, dx: float) -> dict:
    """Drag slider ``label``; check that the kernel drew once and that the page shows its figure
    (the Output widget's only image); return the kernel's report."""
    img = cell.locator(".widget-output img")
    before = report(page)
    move(page, lab, name, cell, label, dx)
    now = report(page, until=lambda r: r["shown"] == [image_sha(img)])
    assert now["shown"] == [image_sha(img)], "the page shows another figure than the kernel drew"
    assert now["draws"] == before["draws"] + 1, f"{label}: {now['draws'] - before['draws']} redraws for one change"
    return now


def report(page, until=None, timeout: float = 20) -> dict:
    """Run the report cell (the last) and read the JSON it prints. With ``until``, run it again
    until ``until(report)`` holds or ``timeout`` runs out: the browser tells the kernel what an
    Output widget shows a moment after the kernel drew it."""
    index = page.locator(".jp-Notebook .jp-CodeCell").count() - 1
    deadline = time.monotonic() + timeout
    while True:
        text = run_cell(page, index)
        outputs = code_cell(page, index).locator(".jp-OutputArea-output")
        assert outputs.count() == 1, "another cell's output landed in the report cell"
        result = json.loads(text)
        if until is None or until(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


# ------------------------------------------------------------------ 03: ε and n

REPORT_OUTPUTS = """
import hashlib, json
def shown(output_widget):
    return [hashlib.sha256("".join(o["data"]["image/png"].split()).encode()).hexdigest()
            for o in output_widget.outputs if "image/png" in o.get("data", {})]
"""


def test_03_eps_and_n_sliders_redraw_once_with_the_value_they_show(lab, new_page):
    name = scratch_notebook(
        lab.root, "widget_03.ipynb",
        "from coursekit.widgets import LinearDimensionDemo\n"
        "demo = LinearDimensionDemo(eps=0.05, n=1000)\nbox = demo.widget()\nbox",
        REPORT_OUTPUTS + "fig = demo.state['figure']\n"
        "print(json.dumps({'eps': demo.state['eps'], 'n': demo.state['n'], 'draws': demo.draws, 'shown': shown(box.children[1]),"
        " 'legend': [t.get_text() for t in fig.axes[0].get_legend().get_texts()]}))")
    page, log, cell = widget_notebook(new_page, lab, name)
    img = cell.locator(".widget-output img")
    start = report(page, until=lambda r: r["shown"] == [image_sha(img)])
    assert start["shown"] == [image_sha(img)], "the page shows another figure than the kernel drew"
    assert readout(cell, "ε") == "0.05" and readout(cell, "n") == "1000"

    for label, dx in (("ε", 45), ("n", -60)):
        now = redraw_once(page, lab, name, cell, label, dx)
        assert readout(cell, "ε") == f"{now['eps']:g}", "the ε label differs from the value the figure uses"
        assert f"largest move of one input: ε = {readout(cell, 'ε')}" in now["legend"]
        assert readout(cell, "n") == str(now["n"])
    assert now["eps"] != 0.05 and now["n"] != 1000
    assert log.errors == []


# ------------------------------------------------------------------ 01: ε and digit (interact)

def test_01_fgsm_sliders_redraw_for_the_values_they_show(lab, new_page):
    name = scratch_notebook(
        lab.root, "widget_01.ipynb",
        "import ipywidgets as widgets\nimport matplotlib.pyplot as plt\n"
        "from coursekit.attacks import fgsm\nfrom coursekit.data import mnist\n"
        "from coursekit.models import load_pretrained\nfrom coursekit.train import predict\n"
        "model = load_pretrained('mnist-cnn')\nx_test, y_test = mnist('test').tensors()\ndrawn = []\n\n"
        "def show_eps(eps=0.1, index=0):\n"
        "    x_adv = fgsm(model, x_test[index:index + 1], y_test[index:index + 1], eps)\n"
        "    label = int(predict(model, x_adv).argmax())\n"
        "    drawn.append({'eps': eps, 'index': index, 'label': label})\n"
        "    fig, ax = plt.subplots(figsize=(2.5, 2.5))\n"
        "    ax.imshow(x_adv[0, 0], cmap='gray', vmin=0, vmax=1)\n"
        "    ax.set_title(f'ε = {eps:.2f}: read as {label}')\n"
        "    ax.axis('off')\n"
        "    plt.show()\n\n"
        "widgets.interact(show_eps, eps=widgets.FloatSlider(value=0.1, min=0.0, max=0.4, step=0.01, description='ε'),\n"
        "                 index=widgets.IntSlider(value=0, min=0, max=99, description='digit'));",
        "import json\nprint(json.dumps(drawn[-1]))")
    page, log, cell = widget_notebook(new_page, lab, name)
    img = cell.locator(".widget-interact .widget-output img")
    for label, dx, key, fmt in (("ε", 80, "eps", "{:.2f}"), ("digit", 50, "index", "{}")):
        shown_before = image_sha(img)
        move(page, lab, name, cell, label, dx)
        last = report(page)
        assert readout(cell, label) == fmt.format(last[key]), f"the last figure was drawn for another {label}"
        assert image_sha(img) != shown_before, "the figure did not change"
    assert last["eps"] != 0.1 and last["index"] != 0
    assert log.errors == []


# ------------------------------------------------------------------ 04: latent sliders

def test_04_latent_sliders_redraw_the_generators_image(lab, new_page):
    name = scratch_notebook(
        lab.root, "widget_04.ipynb",
        "import torch\nfrom coursekit.models import load_pretrained\nfrom coursekit.widgets.latent import LatentExplorer\n"
        "G = load_pretrained('mnist-dcgan')\ng = torch.Generator().manual_seed(0)\n"
        "u, v = torch.randn(2, G.latent_dim, generator=g)\n"
        "explorer = LatentExplorer(G, {'ink': u / u.norm(), 'slant': v / v.norm()}, seed=4)\nexplorer.show()",
        REPORT_OUTPUTS + "print(json.dumps({'alpha': explorer.alpha, 'draws': explorer.draws, 'shown': shown(explorer._out)}))")
    page, log, cell = widget_notebook(new_page, lab, name)
    for label, dx in (("ink", 60), ("slant", -40)):
        now = redraw_once(page, lab, name, cell, label, dx)
        assert readout(cell, label) == f"{now['alpha'][label]:+.1f}".replace("-", "\u2212")   # d3's minus sign
    assert log.errors == []


# ------------------------------------------------------------------ 07: the human rater

RATER_CELL = """import torch
from coursekit.data import mnist
from coursekit.widgets import HumanRater
x, _ = mnist("test").tensors()
real = x[:20]
fake = (x[20:40] + 0.3 * torch.randn(20, 1, 28, 28, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
rater = HumanRater(real, fake, n_trials=20, seed=1, exposure_s={exposure})
rater.widget"""


def rater_images():
    """The scratch notebook's images, rebuilt here for the offline replay."""
    from coursekit.data import mnist
    x, _ = mnist("test").tensors()
    noise = 0.3 * torch.randn(20, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return x[:20], (x[20:40] + noise).clamp(0, 1)


def test_07_rater_fits_a_laptop_screen_records_answers_and_scores_as_a_replay(lab, new_page):
    from coursekit.widgets import RatingSession
    name = scratch_notebook(lab.root, "widget_07.ipynb", RATER_CELL.format(exposure=None),
                            "import json\nprint(json.dumps([t.said_real for t in rater.session.trials]))")
    page, log, cell = widget_notebook(new_page, lab, name)   # a 1366 × 768 window

    # The layout: scrolled to its top, image and buttons are on a 1366 × 768 screen at once.
    widget = cell.locator(".jp-OutputArea-output .widget-vbox").first
    widget.evaluate("el => el.scrollIntoView({block: 'start'})")
    panel = page.locator(".jp-NotebookPanel-notebook").bounding_box()
    image = cell.locator(".ck-rater-screen").bounding_box()
    buttons = [cell.locator(f"button:text-is('{b}')").bounding_box() for b in ("start", "real", "fake")]
    for what, box in [("image", image)] + list(zip(("start", "real", "fake"), buttons)):
        assert panel["y"] <= box["y"] and box["y"] + box["height"] <= min(panel["y"] + panel["height"], 768), \
            f"the {what} is off the 1366 × 768 screen: {box} (notebook panel {panel})"
    assert image["width"] == image["height"] and 200 <= image["width"] <= 300, image
    assert image["width"] < 0.5 * cell.locator(".jp-OutputArea-output").first.bounding_box()["width"]

    # Answers by a fixed rule, each checked against an offline replay of the same session.
    replay = RatingSession(*rater_images(), n_trials=20, seed=1)
    progress, score = cell.locator(".ck-rater-progress"), cell.locator(".ck-rater-score")
    cell.locator("button:text-is('start')").click()
    answers = [k % 3 == 0 for k in range(20)]
    for k, said_real in enumerate(answers):
        page.wait_for_function("([el, k]) => el.textContent.startsWith(`image ${k + 1} of 20`)",
                               arg=[progress.element_handle(), k])
        cell.locator(f"button:text-is('{'real' if said_real else 'fake'}')").click()
        replay.answer(said_real)
        answered, right = replay.running_score()
        if k < 19:
            page.wait_for_function("([el, text]) => el.textContent === text", arg=[
                score.element_handle(), f"score so far: {right} of {answered} right ({answered - right} errors)"])
    r = replay.result()
    expected = f"error rate {r['error_rate']:.0%} (95% CI {r['ci_low']:.0%}–{r['ci_high']:.0%}); 50% = cannot tell"
    page.wait_for_function("([el, text]) => el.textContent === text", arg=[score.element_handle(), expected])
    assert progress.inner_text() == "done: 20 images answered"
    assert report(page) == answers, "the kernel recorded other answers than the clicks"
    assert cell.locator("button:text-is('real')").is_disabled()
    assert log.errors == []


def test_07_exposure_starts_when_the_image_appears_and_restarts_for_each_image(lab, new_page):
    name = scratch_notebook(lab.root, "widget_07_timed.ipynb", RATER_CELL.format(exposure=0.5))
    page, log, cell = widget_notebook(new_page, lab, name)
    screen = cell.locator(".widget-html-content:has(.ck-rater-screen)").element_handle()
    page.evaluate("""screen => {
        window.ckShown = [];   // {trial, inserted, on, off}: when each picture entered the page, was drawn, was hidden
        new MutationObserver(() => {
            const img = screen.querySelector('img.ck-rater-image');
            if (img && !window.ckShown.some(r => r.img === img)) {
                const r = {img, trial: +img.dataset.trial, inserted: performance.now(), on: null, off: null};
                window.ckShown.push(r);
                // "On screen" is the first frame that draws the picture. Its time is the one a CSS
                // animation counts from; under load it can precede `inserted` (the frame was due
                // before the script ran), so timing from `inserted` would read a correct clock as early.
                requestAnimationFrame(t => { r.on = t; });
            }
        }).observe(screen, {childList: true, subtree: true});
        screen.addEventListener('animationend', e => {
            const r = window.ckShown.find(r => r.img === e.target);
            if (r) { r.off = performance.now(); r.hidden = getComputedStyle(e.target).visibility === 'hidden'; }
        });
    }""", screen)
    records = "() => window.ckShown.map(({trial, inserted, on, off, hidden}) => ({trial, inserted, on, off, hidden}))"

    progress = cell.locator(".ck-rater-progress")
    cell.locator("button:text-is('start')").click()
    page.wait_for_function("() => window.ckShown.length === 1 && window.ckShown[0].off !== null", timeout=10_000)
    # Image 1 was hidden by its clock; answer now, after the exposure: the answer still counts.
    cell.locator("button:text-is('fake')").click()
    page.wait_for_function("el => el.textContent.startsWith('image 2 of 20')", arg=progress.element_handle())
    page.wait_for_function("() => window.ckShown.length === 2", timeout=10_000)
    # Answer image 2 while it is on screen: image 3 must get a whole exposure of its own.
    cell.locator("button:text-is('real')").click()
    page.wait_for_function("() => window.ckShown.length === 3 && window.ckShown[2].off !== null", timeout=10_000)
    shown = page.evaluate(records)
    assert [r["trial"] for r in shown] == [0, 1, 2], shown
    assert shown[1]["off"] is None or (shown[1]["off"] - shown[1]["on"]) / 1000 >= 0.48, shown
    # A browser timer is never early; under load it can be late, hence the loose upper bound.
    for r in (shown[0], shown[2]):
        seconds = (r["off"] - r["on"]) / 1000
        assert r["hidden"] and 0.5 - 0.02 <= seconds <= 2.0, f"image {r['trial'] + 1} showed {seconds:.3f} s, not 0.5 s: {shown}"
    assert log.errors == []
