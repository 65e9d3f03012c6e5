# Two commands for everyone: `make book` builds the site, `make test` runs every check.
# Both create .venv with the system python3 when it is missing and install what changed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JB_FLAGS ?= -W -n --keep-going
PYTEST_FLAGS ?=
SITE   := _build/html
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export PYTHONDONTWRITEBYTECODE := 1
# No MPLBACKEND here: with it set, ipykernel keeps that backend instead of its inline one, and
# the chapters' figures never reach the page (grading kernels set Agg for themselves).
# One PyTorch thread per process: the course's models are small, and on a 2-core machine two
# threads per kernel (with a grader running two kernels, or the notebook server beside them)
# oversubscribe the CPU and run several times slower. Override with OMP_NUM_THREADS=N.
export OMP_NUM_THREADS ?= 1

.PHONY: sandbox slurm help preflight setup book book-full-standin test quick lint unit validate site-test serve clean clean-cache browser latex pdf pdf-test edition retire-edition preview student-notebooks

help:
	@echo "make book               build the course site into $(SITE) (pages run in parallel)"
	@echo "make test               everything CI runs: lint, unit, book, validate, site-test,"
	@echo "                        book-full-standin"
	@echo "make quick              the fast inner loop: lint and unit tests without sandbox,"
	@echo "                        Slurm, sudo or browser (seconds to a few minutes)"
	@echo "make lint               ruff check and ruff format --check on the code, ruff on the"
	@echo "                        chapters' code (jupytext)"
	@echo "make unit               every unit test but the site's (sandboxed grading, Slurm)"
	@echo "make validate           course validate over every assignment in solutions/"
	@echo "make site-test          the built site in headless Chromium"
	@echo "make book-full-standin  the full profile on stand-in data, into $(STANDIN)"
	@echo "make pdf                the book as one PDF ($(PDF)), checked, linked from the site"
	@echo "make edition NAME=2026-fall   freeze an edition: list it, build its PDF, site, archive"
	@echo "make retire-edition NAME=...  take an edition out of every page's version switcher"
	@echo "make preview PR=N       the site as pull request N's preview (previews/pr-N/)"
	@echo "make student-notebooks  every chapter and solved exercise as students open them"
	@echo "make serve              serve the built site on http://127.0.0.1:8000"
	@echo "make setup              .venv, the pinned requirements, bubblewrap"
	@echo "make preflight          check COURSE_DEVICE/COURSE_PROFILE, keep the cache in step"
	@echo "make sandbox | slurm | browser | latex   install bubblewrap | slurm-wlm+munge |"
	@echo "                        chromium | TeX Live and poppler-utils"
	@echo "make clean              remove the build and grading work folders (keeps .venv)"
	@echo "make clean-cache        empty the execution cache (every page runs again)"

# --- environment -------------------------------------------------------------------------
setup: $(STAMP) sandbox

# course autograde/validate run each kernel in a bubblewrap sandbox, as a user of its own.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "Installing Debian's bubblewrap for sandboxed grading..."; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq bubblewrap >/dev/null; }

# The Slurm backend's tests start a one-node cluster on this machine (tests/slurm_cluster.py runs
# scripts/slurm-test-cluster.sh); they need Debian's slurm-wlm and munge.
slurm:
	@{ command -v slurmctld && command -v munged; } >/dev/null 2>&1 || { \
	  echo "Installing Debian's slurm-wlm and munge for the Slurm backend's tests..."; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq slurm-wlm munge >/dev/null; }

$(STAMP): requirements.txt pyproject.toml course_utils/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || { \
	  echo "error: this course needs Python 3.10 or newer, but '$(PYTHON)' is $$($(PYTHON) --version 2>&1 || echo missing): install a newer Python and run make PYTHON=python3.11 ..."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e ./course_utils -e .
	@touch $(STAMP)

# Checks COURSE_DEVICE and COURSE_PROFILE before a long build; wipes the execution cache when
# the device or profile changed since the last build, so a cached CPU run never poses as a GPU one.
preflight: $(STAMP)
	@$(PY) -m coursekit.preflight --cache-key _build/.jupyter_cache --doctrees _build/.doctrees

# --- the book ------------------------------------------------------------------------------
# coursekit.execute first runs the pages that the execution cache lacks, one kernel per core
# (COURSE_BUILD_JOBS=N sets how many, 1 turns it off); the build then finds them all cached.
book: preflight
	$(PY) -m coursekit.execute
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "The site is at $(CURDIR)/$(SITE)/index.html (make serve shows it on localhost)."

# The full profile (Fashion-MNIST at the seeds' resolutions, ImageNet weights, long training) on
# stand-in data: generated files in the real formats, random weights, capped training, nothing
# downloaded. Its own data, cache and site under $(STANDIN); every page says it ran on stand-ins.
STANDIN := _build/full-standin
STANDIN_ENV := COURSE_PROFILE=full COURSE_STANDIN=1 COURSE_DATA=$(CURDIR)/$(STANDIN)/data
book-full-standin: $(STAMP)
	$(PY) -m coursekit.standin $(STANDIN)/data
	$(PY) -c 'import sys, yaml; c = yaml.safe_load(open("_config.yml")); c["execute"]["cache"] = sys.argv[1]; yaml.safe_dump(c, open(sys.argv[2], "w"), allow_unicode=True)' $(CURDIR)/$(STANDIN)/.jupyter_cache $(STANDIN)/_config.yml
	$(STANDIN_ENV) $(PY) -m coursekit.preflight --cache-key $(STANDIN)/.jupyter_cache --doctrees $(STANDIN)/_build/.doctrees
	$(STANDIN_ENV) $(PY) -m coursekit.execute --config $(STANDIN)/_config.yml
	$(STANDIN_ENV) $(BIN)/jupyter-book build . --config $(STANDIN)/_config.yml --path-output $(STANDIN) $(JB_FLAGS)
	@echo "The stand-in site is at $(CURDIR)/$(STANDIN)/_build/html/index.html."

# --- the PDF and the editions -------------------------------------------------------------
# The book as one PDF: Jupyter Book's LaTeX builder (XeLaTeX through latexmk, for the chapters'
# Unicode), from the same execution cache as the site. Then the PDF's own check (pytest -m pdf:
# every chapter, its figures), and the site again, whose download menus now offer the PDF
# (every page is rewritten, none read or executed again).
PDF := _build/latex/cnn-course.pdf
LATEX_PACKAGES := texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
  texlive-xetex texlive-plain-generic latexmk fonts-freefont-otf tex-gyre poppler-utils

latex:
	@{ command -v latexmk && command -v xelatex && command -v pdftotext && kpsewhich tgtermes.sty; } >/dev/null 2>&1 || { \
	  echo "Installing Debian's TeX Live, latexmk and poppler-utils for the PDF..."; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(LATEX_PACKAGES) >/dev/null; }

pdf: preflight latex
	$(PY) -m coursekit.execute
	$(BIN)/jupyter-book build . --builder pdflatex $(JB_FLAGS)
	$(MAKE) --no-print-directory pdf-test
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "The PDF is $(CURDIR)/$(PDF); the site offers it as _static/$(notdir $(PDF))."

pdf-test: $(STAMP)
	COURSE_PDF=$(PDF) $(BIN)/pytest tests/test_pdf.py -m pdf -p no:xdist -q $(PYTEST_FLAGS)

# An edition: listed in editions.yml (when new) with this checkout's course_utils version, then
# its PDF, its site (addressed at editions/NAME/, the switcher on NAME) and the .tar.gz for its
# GitHub release, all under _build/editions/NAME. .github/workflows/edition.yml runs this for a
# tag edition-NAME and publishes the result; see the README's semester routine.
EDITION_DIR = _build/editions/$(NAME)
edition: preflight latex
	@test -n "$(NAME)" || { echo "error: name the edition, as in: make edition NAME=2026-fall"; exit 2; }
	$(PY) scripts/edition.py prepare $(NAME) --out $(EDITION_DIR) $(EDITION_FLAGS)
	$(PY) -m coursekit.execute --config $(EDITION_DIR)/_config.yml
	$(BIN)/jupyter-book build . --config $(EDITION_DIR)/_config.yml --path-output $(EDITION_DIR) --builder pdflatex $(JB_FLAGS)
	COURSE_PDF=$(EDITION_DIR)/$(PDF) $(BIN)/pytest tests/test_pdf.py -m pdf -p no:xdist -q $(PYTEST_FLAGS)
	$(BIN)/jupyter-book build . --config $(EDITION_DIR)/_config.yml --path-output $(EDITION_DIR) $(JB_FLAGS)
	$(PY) scripts/edition.py archive $(NAME) $(EDITION_DIR)/_build/html $(EDITION_DIR)/cnn-course-$(NAME).tar.gz
	@echo "The edition $(NAME) is in $(CURDIR)/$(EDITION_DIR): _build/html, the PDF, the archive."

retire-edition: $(STAMP)
	@test -n "$(NAME)" || { echo "error: name the edition, as in: make retire-edition NAME=2026-fall"; exit 2; }
	$(PY) scripts/edition.py retire $(NAME)

# A pull request's preview: the site addressed at previews/pr-N/ of the published branch (its
# Colab links and switcher work there), from the same execution cache. .github/workflows/
# preview.yml builds it on CPU, publishes it and comments the link.
PREVIEW_DIR = _build/previews/pr-$(PR)
preview: preflight
	@test -n "$(PR)" || { echo "error: name the pull request, as in: make preview PR=42"; exit 2; }
	$(PY) scripts/edition.py preview $(PR) --out $(PREVIEW_DIR)
	$(PY) -m coursekit.execute --config $(PREVIEW_DIR)/_config.yml
	$(BIN)/jupyter-book build . --config $(PREVIEW_DIR)/_config.yml --path-output $(PREVIEW_DIR) $(JB_FLAGS)

# The notebooks as students open them (every chapter, every exercise filled with its solution)
# and a wheel of course_utils, for .github/workflows/weekly.yml's run in Colab's image.
STUDENT_DIR := _build/student
student-notebooks: $(STAMP)
	rm -rf $(STUDENT_DIR)
	$(PY) scripts/student_notebooks.py $(STUDENT_DIR)

serve: $(STAMP)
	$(PY) -m http.server 8000 --bind 127.0.0.1 --directory $(SITE)

# --- checks --------------------------------------------------------------------------------
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) scripts/lint_chapters.py

# No sandbox, Slurm, sudo or browser: the tests that need them are marked slow, slurm or site
# (pdf: the PDF's own checks, run by make pdf).
quick: lint
	COURSE_ALLOW_NO_SANDBOX=1 $(BIN)/pytest -m "not site and not pdf and not slow and not slurm" -n 2 -q $(PYTEST_FLAGS)

unit: $(STAMP) sandbox slurm
	$(BIN)/pytest -m "not site and not pdf" -n 2 $(PYTEST_FLAGS)

validate: $(STAMP) sandbox
	$(BIN)/course validate --jobs 2

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; }

site-test: $(STAMP) browser
	$(BIN)/pytest -m site $(PYTEST_FLAGS)

test: lint unit book validate site-test book-full-standin
	@echo "All checks passed."

clean:
	rm -rf _build .grading .pytest_cache .ruff_cache

clean-cache:
	rm -rf _build/.jupyter_cache
