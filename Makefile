# Two commands matter: `make demo` (install, run the main job) and `make test` (install, run
# every check). Both create the virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 2024

.PHONY: demo test lint typecheck pytest dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.runtime

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.dev $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/langgraph-parallel run morning-briefing

test: lint typecheck pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check langgraph_parallel tests tools benchmarks
	$(BIN)/ruff format --check langgraph_parallel tests tools benchmarks

typecheck: $(VENV)/.dev
	$(BIN)/mypy

pytest: $(VENV)/.dev
	$(BIN)/pytest

bench: $(VENV)/.bench
	$(BIN)/python benchmarks/run.py

dev: $(VENV)/.dev
	$(BIN)/langgraph dev --no-browser --host 127.0.0.1 --port $(PORT) --n-jobs-per-worker 20

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
