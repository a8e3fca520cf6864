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

# nbs/*.ipynb -> dnc_lit/*.py (the notebooks are the only source of the library); then the
# module docstrings and __all__ that nbdev writes itself are wrapped to 88 characters
export: $(STAMP)
	$(BIN)/nbdev-export

# the website: every chapter executed (cached by jupyter-cache), warnings and cell errors fail
book: export
	$(BIN)/jupyter-book build -W -n --keep-going book/
	@echo "book: open book/_build/html/index.html"

# the whole test suite: notebooks, unit and property tests, packaging, and the built pages in Chromium.
# A second `make test` on exactly the same files (and the same browser availability) that already passed
# says so and stops in seconds; `make test FORCE=1` runs everything again.
TEST_PASSED := $(VENV)/.tests-passed
test: book
	@h=$$( { git ls-files -co --exclude-standard -z | xargs -0 sha1sum; command -v chromium chromedriver; } 2>/dev/null | sha1sum | cut -c1-40 ); \
	if [ -z "$(FORCE)" ] && [ "$$(cat $(TEST_PASSED) 2>/dev/null)" = "$$h" ]; then \
	  echo "make test: every test already passed on exactly these files; nothing to do (make test FORCE=1 runs them again)"; \
	else \
	  rm -f $(TEST_PASSED); $(BIN)/python -m pytest -n 2 && echo "$$h" > $(TEST_PASSED); \
	fi

# the same without building the book (the browser tests then skip)
test-fast: export
	$(BIN)/python -m pytest -n 2 -m "not browser"

# strip execution counts and noisy metadata from the notebooks (cell tags are kept)
clean-nbs: $(STAMP)
	$(BIN)/nbdev-clean

# CI: exporting and cleaning must leave the committed tree unchanged, and no code line in
# the library or in a notebook's code cells is longer than 88 characters (ruff, E501; what
# it reads is set in pyproject.toml: the notebooks and the hand-written modules)
check: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/python tools/check_committed.py

wheel: export
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .

clean:
	rm -rf book/_build dist build *.egg-info .pytest_cache

# speed: training and forward steps per CPU-second of the reference and fused paths, and of the PyTorch DNC (PyPI `dnc`)
# on the same configurations (the copy sizes and the graph-task size), one thread per worker process, interleaved rounds;
# ratios against the PyTorch DNC (BENCH_ARGS="--ladder": the effect of each fusion step; see bench/README.md). bench/.venv holds torch 2.13 CPU
# (a local file on these machines) and `dnc` without its extras. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for this
# command only. Not a test.
BENCH_VENV := bench/.venv
$(BENCH_VENV)/.installed:
	test -x $(BENCH_VENV)/bin/python || $(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q torch==2.13.0 numpy autograd
	$(BENCH_VENV)/bin/pip install -q --no-deps dnc==1.1.0
	touch $@

bench: export $(BENCH_VENV)/.installed
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BENCH_VENV)/bin/python bench/bench.py $(BENCH_ARGS)
