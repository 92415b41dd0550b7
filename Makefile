# Two commands matter: `make demo` (install, run the main job) and `make test` (install, run
# every check). Both create the virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 2024

.PHONY: demo test lint typecheck pytest dev bench clean

# Checked before the environment is made, so a wrong Python leaves no .venv behind.
$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "langgraph-parallel needs Python 3.11 or newer, and '$(PYTHON)' was not found;" \
	    "pass one, e.g. make demo PYTHON=python3.12"; \
	  exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "langgraph-parallel needs Python 3.11 or newer, and '$(PYTHON)' is" \
	    "$$($(PYTHON) --version 2>&1); pass one, e.g. make demo PYTHON=python3.12"; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.serve: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[serve]'
	touch $@ $(VENV)/.runtime

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.serve $(VENV)/.runtime

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.dev $(VENV)/.serve $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/langgraph-parallel run morning-briefing

test: lint typecheck pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check langgraph_parallel tests tools benchmarks
	$(BIN)/ruff format --check langgraph_parallel tests tools benchmarks

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# Four at a time on any machine: most tests wait on servers, subprocesses and latency rather
# than compute. Each module (and each class) runs in one worker, beside the others, the
# longest first (tests/conftest.py).
pytest: $(VENV)/.dev
	$(BIN)/pytest -n 4 --dist loadscope --no-loadscope-reorder

bench: $(VENV)/.bench
	$(BIN)/python benchmarks/run.py

dev: $(VENV)/.serve
	LANGGRAPH_CLI_NO_ANALYTICS=1 $(BIN)/langgraph dev --no-browser --host 127.0.0.1 --port $(PORT) --n-jobs-per-worker 20

# Everything the commands wrote: the environment, the tools' caches, `make dev`'s server state
# (.langgraph_api) and the CLI's threads (.langgraph-parallel).
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .langgraph_api .langgraph-parallel
