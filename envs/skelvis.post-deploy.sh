#!/usr/bin/env bash
# Runs once inside the new conda environment after Snakemake built envs/skelvis.yaml. Snakemake
# runs a copy of this file (<conda-prefix>/<hash>.post-deploy.sh) from the working directory, so
# the checkout comes from SKELVIS_SOURCE, which workflow/rules/common.smk sets from the Snakefile's
# own location. The dependencies are already in place (the yaml's pip section is the lock).
set -euo pipefail
src="${SKELVIS_SOURCE:?SKELVIS_SOURCE is unset: run the workflow through workflow/Snakefile, which sets it}"
test -f "$src/pyproject.toml" || { echo "post-deploy: $src/pyproject.toml not found (SKELVIS_SOURCE must be the skelvis checkout)" >&2; exit 1; }
python -m pip install --no-deps --no-build-isolation -e "$src"
