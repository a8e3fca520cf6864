# dnc_lit: the two commands of the README are `make book` and `make test`.
# Both create the virtual environment they need (.venv) on first use.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# never let uv fetch a Python of its own; use the system's certificate store
export UV_PYTHON_DOWNLOADS := never
export UV_NATIVE_TLS := 1
# NB: MPLBACKEND must not be forced to Agg here: the book's kernels would then draw no figures.

STAMP := $(VENV)/.installed
NBS := $(wildcard nbs/*.ipynb)
HTML := book/_build/html/index.html

.PHONY: all venv export test test-fast book check clean-nbs wheel bench clean
all: book test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $@

venv: $(STAMP)

# nbs/*.ipynb -> dnc_lit/*.py (the notebooks are the only source of the library)
export: $(STAMP)
	$(BIN)/nbdev-export

# the website: every chapter executed (cached by jupyter-cache), warnings and cell errors fail
book: export
	$(BIN)/jupyter-book build -W -n --keep-going book/
	@echo "book: open book/_build/html/index.html"

# the whole test suite: notebooks, unit and property tests, packaging, and the built pages in Chromium
test: book
	$(BIN)/python -m pytest -n 2

# the same without building the book (the browser tests then skip)
test-fast: export
	$(BIN)/python -m pytest -n 2 -m "not browser"

# strip execution counts and noisy metadata from the notebooks (cell tags are kept)
clean-nbs: $(STAMP)
	$(BIN)/nbdev-clean

# CI: exporting and cleaning must leave the committed tree unchanged
check: $(STAMP)
	$(BIN)/python tools/check_committed.py

wheel: export
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .

clean:
	rm -rf book/_build dist build *.egg-info .pytest_cache
