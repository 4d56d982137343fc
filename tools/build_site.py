"""Build the course book, a static HTML site that reads offline (``make site``).

    python -m tools.build_site                   # full mode: the real book, in build/site/
    python -m tools.build_site --quick           # quick-mode outputs (what the test suite checks)
    python -m tools.build_site --quick --jobs 2  # two notebooks at once, one thread each
    python -m tools.build_site --executed DIR    # pages from notebooks executed already
                                                 #   (python -m tools.run_notebooks --out DIR)

Four steps, each done by the tool made for it:

1. execute every course notebook in a fresh kernel (tools/run_notebooks.py), figures drawn
   inline; executed copies are kept in build/executed/<mode>/ and reused while neither the
   notebook nor the package and data it runs on have changed;
2. build the student versions with nbgrader (coursekit.grading.release), in a scratch folder;
3. lay out the Sphinx sources in build/book/: book/ (conf.py, index.md, _static/), the
   README, each executed notebook with a "download" note after its first cell and its widgets
   drawn as static HTML, and the files to download;
4. ``sphinx-build -b html`` with myst-nb, which renders the stored outputs and runs nothing.

Open build/site/index.html in a browser; nothing is fetched from the network.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from coursekit.validate import check_positive

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "book"
BUILD = ROOT / "build"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


# ------------------------------------------------------------------ 1. execute

def inputs_digest(path: Path) -> str:
    """sha256 of a notebook together with everything its outputs depend on in the repository:
    the package's sources and data/'s manifests and stored results (their sha256s cover the
    weights)."""
    digest = hashlib.sha256(path.read_bytes())
    for dep in sorted(list((ROOT / "coursekit").rglob("*.py")) + list((ROOT / "data").rglob("*.json"))):
        digest.update(str(dep.relative_to(ROOT)).encode())
        digest.update(dep.read_bytes())
    return digest.hexdigest()


def execute_all(mode: str, out_dir: Path, timeout: int = 900, jobs: int = 1) -> list[Path]:
    """Every course notebook executed in ``mode`` ("full" or "quick") into ``out_dir``.

    A copy already there is reused when its recorded digest matches (:func:`inputs_digest`).
    ``jobs`` notebooks run at once, each kernel in a process of its own (nbclient serialises the
    kernels of one process) and, when ``jobs`` > 1, on one thread, so that the kernels do not
    compete for the cores. Raises RuntimeError naming each notebook that failed.
    """
    check_positive("jobs", jobs, integer=True)
    os.environ["MPLBACKEND"] = INLINE_BACKEND   # the kernel inherits it: figures are kept inline
    out_dir.mkdir(parents=True, exist_ok=True)
    done, failures, todo = {}, [], []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        target = out_dir / path.name
        digest = inputs_digest(path)
        if target.is_file():
            meta = nbformat.read(target, as_version=4).metadata.get("coursekit_book", {})
            if meta.get("digest") == digest and meta.get("mode") == mode:
                print(f"{path.name:40s} reused (executed {meta.get('executed')})", flush=True)
                done[path.name] = target
                continue
        todo.append((path, digest))

    def finish(path: Path, digest: str, seconds: float, error: str | None, nb) -> None:
        print(f"{path.name:40s} {seconds:7.1f} s  {error or 'ok'}", flush=True)
        if error:
            failures.append(f"{path.name}: {error}")
            return
        nb.metadata["coursekit_book"] = {"digest": digest, "mode": mode, "seconds": round(seconds, 1),
                                         "executed": time.strftime("%Y-%m-%d")}
        nbformat.write(nb, out_dir / path.name)
        done[path.name] = out_dir / path.name

    if jobs == 1:
        for path, digest in todo:
            finish(path, digest, *_execute_one(path, mode, timeout, threads=None))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            running = {pool.submit(_execute_one, path, mode, timeout, 1): (path, digest) for path, digest in todo}
            for future, (path, digest) in running.items():
                finish(path, digest, *future.result())
    if failures:
        raise RuntimeError("notebooks that failed to execute:\n  " + "\n  ".join(failures))
    return [done[name] for name in sorted(done)]


def _execute_one(path: Path, mode: str, timeout: int, threads: int | None):
    """(wall s, error or None, the executed notebook) of one notebook run in a fresh kernel,
    with ``threads`` CPU threads (None: the environment's); a pool worker's own environment."""
    from tools import run_notebooks

    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)

    with tempfile.TemporaryDirectory() as tmp:
        seconds, _, error = run_notebooks.execute(path, quick=mode == "quick", out_dir=Path(tmp), timeout=timeout)
        nb = None if error else nbformat.read(Path(tmp) / path.name, as_version=4)
    return seconds, error, nb


# ------------------------------------------------------------------ 2. student versions

def student_versions(dest: Path) -> dict[str, Path]:
    """{notebook stem: student version} for every notebook with exercises, built by nbgrader."""
    from coursekit.grading import release

    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as course:
        released = release(course)
        out = {}
        for name, path in released.items():
            out[name] = dest / f"{name}.ipynb"
            shutil.copyfile(path, out[name])
    return out


# ------------------------------------------------------------------ 3. widgets drawn as HTML

def _img(b64: str, fmt: str = "png", style: str = "") -> str:
    return f'<img src="data:image/{fmt};base64,{b64}" alt="widget image" style="{style}">'


def _output_html(output: dict) -> str:
    """One captured output of an Output widget (a figure, text) as HTML."""
    if output.get("output_type") == "stream":
        return f"<pre>{html.escape(''.join(output.get('text', '')))}</pre>"
    data = output.get("data", {})
    if "image/png" in data:
        return _img("".join(data["image/png"]).strip())
    if "text/html" in data:
        return "".join(data["text/html"])
    if "text/plain" in data and output.get("output_type") != "execute_result":
        return f"<pre>{html.escape(''.join(data['text/plain']))}</pre>"
    return ""


def _readout(state: dict) -> str:
    """The text a slider shows beside itself."""
    value = state.get("value")
    if "index" in state and "_options_labels" in state:           # SelectionSlider
        labels = state["_options_labels"]
        index = state["index"]
        return ", ".join(labels[i] for i in index) if isinstance(index, list) else labels[index]
    fmt = state.get("readout_format", "")
    try:
        return format(value, fmt.rstrip("d") + "d" if fmt.endswith("d") else fmt)
    except (TypeError, ValueError):
        return str(value)


def widget_html(model_id: str, states: dict) -> str:
    """A static drawing of a widget and its children, as the kernel last left them."""
    model = states.get(model_id)
    if model is None:
        return ""
    name, s = model["model_name"], model["state"]
    buffers = {tuple(b["path"]): b["data"] for b in model.get("buffers", [])}
    children = [c.removeprefix("IPY_MODEL_") for c in s.get("children", [])]
    layout = states.get(str(s.get("layout", "")).removeprefix("IPY_MODEL_"), {}).get("state", {})
    if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"):
        direction = "row" if name == "HBoxModel" else "column"
        inner = "".join(widget_html(c, states) for c in children)
        return f'<div class="ck-static-box" style="flex-direction:{direction}">{inner}</div>'
    if name == "StackModel":
        index = s.get("selected_index")
        return widget_html(children[index], states) if index is not None and children else ""
    if name == "OutputModel":
        return "".join(_output_html(o) for o in s.get("outputs", []))
    if name == "ImageModel":
        data = buffers.get(("value",))
        if not data:
            return ""
        size = ";".join(f"{k}:{layout[k]}" for k in ("width", "height") if layout.get(k))
        return _img(data, s.get("format", "png"), size + ";image-rendering:pixelated")
    if "Slider" in name or name.endswith("TextModel") or name.endswith("DropdownModel"):
        label = html.escape(str(s.get("description", "")))
        return f'<span class="ck-static-control">{label} <b>{html.escape(_readout(s))}</b></span>'
    if name == "ButtonModel":
        return f'<button class="ck-static-button" disabled>{html.escape(s.get("description", ""))}</button>'
    if name in ("LabelModel", "HTMLModel", "HTMLMathModel"):
        value = s.get("value", "")
        return f"<div>{value if name != 'LabelModel' else html.escape(value)}</div>"
    if name in ("FloatProgressModel", "IntProgressModel"):
        return f'<progress value="{s.get("value", 0)}" max="{s.get("max", 100)}"></progress>'
    return ""


NOTE = ('<p class="ck-static-note">Interactive widget: in JupyterLab its controls respond; here it '
        "is drawn as it stood when the notebook ran.</p>")


def static_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with every widget output replaced by a static HTML drawing of it, and the stored
    widget state removed (so the book loads no widget JavaScript)."""
    states = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            drawing = widget_html(view["model_id"], states)
            output["data"] = {"text/html": f'<div class="ck-static-widget">{NOTE}{drawing}</div>'}
    nb.metadata.pop("widgets", None)
    return nb


# ------------------------------------------------------------------ 3. the Sphinx sources

def download_note(name: str, has_student: bool, mode: str) -> str:
    """The note after a page's first cell: its two downloads, and which run made its outputs."""
    lines = ["```{admonition} Run it yourself", ":class: tip",
             f"{{download}}`Download the notebook <../downloads/course/{name}.ipynb>` (solutions included) "
             "and open it in the course's JupyterLab (`make lab`)."]
    if has_student:
        lines.append(f"{{download}}`The student version <../downloads/student/{name}.ipynb>` has the "
                     "exercises blank, as a class receives it.")
    else:
        lines.append("This notebook has no graded exercises, so it has no separate student version.")
    lines.append(f"The outputs below come from a run in {mode} mode"
                 + (" (smaller budgets than the course itself)." if mode == "quick" else " on a 2-core CPU."))
    lines.append("```")
    return "\n".join(lines)


def lay_out(executed: list[Path], students: dict[str, Path], src: Path, mode: str) -> None:
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(BOOK, src, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "README.md", src / "README.md")
    (src / "notebooks").mkdir()
    for kind in ("course", "student"):
        (src / "downloads" / kind).mkdir(parents=True)
    for path in students.values():
        shutil.copyfile(path, src / "downloads" / "student" / path.name)
    for path in executed:
        name = path.stem
        shutil.copyfile(NOTEBOOKS / path.name, src / "downloads" / "course" / path.name)
        nb = static_widgets(nbformat.read(path, as_version=4))
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(download_note(name, name in students, mode)))
        nbformat.write(nb, src / "notebooks" / path.name)


def sphinx_build(src: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", "-d", str(src / ".doctrees"), str(src), str(out)]
    subprocess.run(cmd, check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="execute in quick mode (COURSEKIT_QUICK=1)")
    parser.add_argument("--executed", type=Path,
                        help="folder of executed notebooks to use instead of executing them")
    parser.add_argument("--out", type=Path, default=BUILD / "site", help="where the HTML goes (build/site)")
    parser.add_argument("--work", type=Path, default=BUILD,
                        help="folder for executed copies, student versions and Sphinx sources (build/)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="notebooks executed at once, each with one thread (default 1)")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    start = time.perf_counter()
    if args.executed:
        executed = sorted(args.executed.glob("[0-9][0-9]_*.ipynb"))
        expected = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
        if [p.name for p in executed] != expected:
            raise SystemExit(f"--executed {args.executed} must hold the executed {expected}, "
                             f"has {[p.name for p in executed]}")
        mode = nbformat.read(executed[0], as_version=4).metadata.get("coursekit_book", {}).get("mode", mode)
        for path in executed:
            outputs = [o for c in nbformat.read(path, as_version=4).cells for o in c.get("outputs", [])]
            if not any("image/png" in o.get("data", {}) for o in outputs):
                print(f"warning: {path.name} has no figures; was it executed with MPLBACKEND=Agg?", file=sys.stderr)
    else:
        try:
            executed = execute_all(mode, args.work / "executed" / mode, jobs=args.jobs)
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 1
    students = student_versions(args.work / "student")
    lay_out(executed, students, args.work / "book", mode)
    sphinx_build(args.work / "book", args.out)
    print(f"book built in {time.perf_counter() - start:.0f} s: open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
