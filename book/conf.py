"""Sphinx configuration of the course book (`make site`; tools/build_site.py lays out the sources).

The pages are the course notebooks as executed by tools/build_site.py: myst-nb renders their
stored outputs and runs nothing. Everything a page needs is in the built folder, MathJax
included, so the book reads offline (open build/site/index.html).
"""
import shutil
from importlib import metadata
from pathlib import Path

project = "coursekit"
author = "the coursekit authors"
copyright = "the coursekit authors; MNIST: LeCun, Cortes and Burges, CC BY-SA 3.0"
html_title = "Adversarial examples and GANs"

extensions = ["myst_nb"]
exclude_patterns = ["_build", "downloads", "README.md", "**.ipynb_checkpoints"]

# The notebooks were executed before the build (full mode for the real site, quick mode in
# the test suite); executing them again here would double the cost and hide which run the
# figures come from.
nb_execution_mode = "off"
nb_output_stderr = "remove-warn"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": False,   # each page names its two downloads itself
    "use_fullscreen_button": False,
}
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False

# Math: MathJax 3.2.2's single-file TeX-to-SVG build, as the sphinx-mathjax-offline package
# ships it, copied into the book: every TeX extension is inside the file and SVG output needs no
# web fonts, so math renders offline and from file:// URLs (where Chromium refuses fonts).
MATHJAX = Path(str(metadata.distribution("sphinx-mathjax-offline").locate_file(
    "sphinx-mathjax-offline/static/mathjax/tex-svg-full.js")))
mathjax_path = "mathjax/tex-svg-full.js"
html_context = {"default_mode": "light"}   # the theme logs an error on a first visit without it


def _copy_mathjax(app, exception):
    if exception is None and app.builder.format == "html":
        (Path(app.outdir) / "_static" / "mathjax").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MATHJAX, Path(app.outdir) / "_static" / "mathjax" / MATHJAX.name)


def setup(app):
    app.connect("build-finished", _copy_mathjax)
