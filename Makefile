# The course's commands. `make lab` and `make test` both create the environment in .venv/
# first if it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.coursekit-installed

# Notebooks run in quick mode under test; matplotlib draws off-screen.
TEST_ENV := COURSEKIT_QUICK=1 MPLBACKEND=Agg PYTHONHASHSEED=0

.PHONY: lab lab-ta site site-quick test test-full unit notebooks bench pretrained env clean-env help release grade

help:
	@echo "make lab         set up .venv if needed, open your own copies of the notebooks (my-notebooks/) in JupyterLab"
	@echo "make lab-ta      JupyterLab with nbgrader's instructor tools, in the grading course folder"
	@echo "make site        the course as a static HTML book in build/site/ (executes every notebook, full mode)"
	@echo "make site-quick  the same book from quick-mode runs (minutes, what the tests check)"
	@echo "make test        set up .venv if needed, run unit tests and every notebook (quick mode)"
	@echo "make test-full   every notebook in full mode, each within the time its first cell states"
	@echo "make unit        unit tests only;  make notebooks: notebooks only"
	@echo "make bench       run benchmarks/ and print the tables"
	@echo "make pretrained  rebuild every shipped pretrained file (minutes)"
	@echo "make release     student versions of the notebooks (nbgrader; see docs/TEACHING.md)"
	@echo "make grade SUBMISSIONS=dir   autograde a folder of submissions (sandboxed, JOBS at once), CSV, feedback"
	@echo "make clean-env   delete .venv"

env: $(STAMP)

# A dropped connection must not fail the setup: pip retries and resumes each download, and each
# install step is tried again after a pause, three times. A full disk fails at once, by name: the
# environment takes about 7 GB (PyTorch alone 5.5 GB), and pip out of space reports a cut-off
# download instead ("not enough bytes were received"), which reads as a network fault.
PIP := PIP_RETRIES=10 PIP_TIMEOUT=60 PIP_RESUME_RETRIES=10 PIP_DISABLE_PIP_VERSION_CHECK=1 $(PY) -m pip
retry = for try in 1 2 3; do $(1) && break; test $$try -lt 3 || exit 1; \
	echo "pip failed (try $$try of 3); trying again in $$((30 * try)) s"; sleep $$((30 * try)); done
ENV_GB := 8

$(STAMP): pyproject.toml requirements-nodeps.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "coursekit needs Python >= 3.10, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -c 'import shutil, sys; free = shutil.disk_usage(".").free / 2**30; \
		sys.exit(0 if free >= $(ENV_GB) else f"the environment in $(VENV)/ needs about $(ENV_GB) GB of free disk, found {free:.1f} GB: free some space and run this again")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(call retry,$(PIP) install --upgrade pip)
	$(call retry,$(PIP) install -e ".[dev]")
	$(call retry,$(PIP) install --no-deps -r requirements-nodeps.txt)
	touch $(STAMP)

# A student's lab: their own copies in my-notebooks/ (git-ignored; made from notebooks/, never
# overwritten), nbgrader's instructor tools switched off (jupyter-student/). tools/lab.py says more.
lab: $(STAMP)
	$(PY) -m tools.lab

# The TA's lab: nbgrader's tools, in the grading course folder (docs/TEACHING.md).
lab-ta: $(STAMP)
	$(PY) -m tools.lab --ta

# The book: every notebook executed (full mode; copies reused while nothing they depend on has
# changed), student versions from nbgrader, Sphinx + myst-nb. Open build/site/index.html.
site: $(STAMP)
	PYTHONHASHSEED=0 $(PY) -m tools.build_site

site-quick: $(STAMP)
	PYTHONHASHSEED=0 $(PY) -m tools.build_site --quick --jobs 2 --out build/site-quick

# Notebooks with exercises are executed by the grading round trip in tests/test_grading.py
# (the solution notebook, graded as a submission, must run without a single error), so nbval
# runs only the others here and no notebook is executed twice.
PLAIN_NOTEBOOKS = $$($(PY) -c "from coursekit.grading import exercise_notebooks as e; import glob, os; \
	done = {p.name for p in e()}; print(' '.join(n for n in sorted(glob.glob('notebooks/*.ipynb')) if os.path.basename(n) not in done))")

# --durations=40 lists the slowest tests: where CI's 30 minutes go.
test: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests $(PLAIN_NOTEBOOKS) --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider --durations=40

# Full mode is what a student runs: every notebook without COURSEKIT_QUICK, in a fresh kernel,
# failing on an error or on a notebook slower than the time its first cell states (or 5 min).
# NOTEBOOKS="01 02" runs a subset; tools/run_notebooks.py --help for more.
test-full: $(STAMP)
	MPLBACKEND=Agg PYTHONHASHSEED=0 $(PY) -m tools.run_notebooks $(NOTEBOOKS)

unit: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests -p no:cacheprovider

notebooks: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest notebooks --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider

# TA commands (docs/TEACHING.md): student versions, and the whole grading loop on a folder of
# submissions laid out as SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb
release: $(STAMP)
	$(PY) -m coursekit.grading release

# Each submission is graded in a sandbox (bubblewrap); JOBS of them at once (default: one per core).
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || (echo "usage: make grade SUBMISSIONS=path/to/submitted [JOBS=n]" && exit 2)
	$(PY) -m coursekit.grading grade $(SUBMISSIONS) --jobs $(JOBS)

bench: $(STAMP)
	$(PY) -m benchmarks

pretrained: $(STAMP)
	$(PY) -m coursekit.pretrain all

clean-env:
	rm -rf $(VENV)
