# skelvis: `make run` (set up, then the default workflow) and `make test` (set up, then the tests).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PYTHONUNBUFFERED := 1
CORES ?= all
PYTEST_ARGS ?=

.PHONY: setup run test test-fast bench lint dag report notebooks system-deps clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[workflow,test]'
	touch $@

run: setup
	snakemake --cores $(CORES)
	snakemake --report results/report.html

# System packages the browser and Slurm tests need (Debian; skipped where apt-get is absent).
system-deps:
	@bash tools/system_deps.sh

test: setup system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "fast" -x -q

bench: setup
	$(PY) benchmarks/run.py

lint: setup
	snakemake --lint

dag: setup
	snakemake -n

# Rebuild the committed notebook templates from notebooks/src/*.py
notebooks: setup
	for f in notebooks/src/*.py; do $(PY) tools/make_notebook.py $$f notebooks/$$(basename $${f%.py}).ipynb; done

clean:
	rm -rf results logs .snakemake
