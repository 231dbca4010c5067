# skelvis: `make run` (set up, then the default workflow) and `make test` (set up, then the tests).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PYTHONUNBUFFERED := 1
CORES ?= all
PYTEST_ARGS ?=

.PHONY: setup vendor run test test-fast bench bench-scale lint format lock dag report notebooks system-deps clean

setup: $(VENV)/.installed vendor

# The page's JavaScript from npm, pinned by version and integrity in
# src/skelvis/viewer_assets/vendor.json (tools/vendor_js.py; a no-op once fetched).
vendor:
	python3 tools/vendor_js.py

# Exact versions from requirements.lock (see README, "Reproducible set-up"). torch first, by its
# version alone, so that pip takes whichever build of 2.13.0 the machine offers (the CPU wheel where
# one lies on disk or PIP_EXTRA_INDEX_URL names the CPU index, PyPI's CUDA build elsewhere).
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check
	touch $@

# Re-pin every package of the workflow environment after changing a range in pyproject.toml
# (tools/lock.py: requirements.lock and the pip section of envs/skelvis.yaml; TORCH=x.y.z moves torch).
lock:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q 'pip-tools>=7.4,<8'
	$(PY) tools/lock.py $(if $(TORCH),--torch $(TORCH))

run: setup
	snakemake --cores $(CORES)
	snakemake --report results/report.html

# System packages the browser and Slurm tests need (Debian; skipped where apt-get is absent).
system-deps:
	@bash tools/system_deps.sh

test: setup system-deps lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "fast" -x -q

bench: setup
	$(PY) benchmarks/run.py

# The DAG of config/ntu_scale.yaml at growing sizes (hours): results/bench/scale.json
SCALE_SIZES ?= 2000 8000 32000
bench-scale: setup
	$(PY) benchmarks/bench_scale.py --sizes $(SCALE_SIZES)

# Lint and format checks (part of make test): the workflow, its formatting, the Python code.
lint: setup
	snakemake --lint
	snakefmt --check workflow/
	ruff check .

# Rewrite the formatting that `make lint` checks (snakefmt, and ruff's safe fixes).
format: setup
	snakefmt workflow/
	ruff check --fix .

dag: setup
	snakemake -n

# Rebuild the committed notebook templates notebooks/*.ipynb from their sources notebooks/src/*.py
# (jupytext percent format, paired in notebooks/jupytext.toml); tests/test_docs.py fails while they differ.
notebooks: setup
	for f in notebooks/src/*.py; do jupytext --quiet --update --to ipynb -o notebooks/$$(basename $${f%.py}).ipynb $$f; done

clean:
	rm -rf results logs .snakemake
