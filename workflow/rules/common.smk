# Shared helpers: config validation, target list, input functions. Only helpers live here.
from pathlib import Path

from skelvis.config import validate_config


# Validates (one line naming the key on error) and fills defaults, also inside the stage schemas.
validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")

DATASETS = list(config["datasets"])
ARCHS = list(config["archs"])
ENV = "../../envs/skelvis.yaml"

_missing = [d for d in DATASETS if d not in config["data"]]
if _missing:
    raise ValueError(
        f"config key 'datasets' names {_missing} but 'data' has no entry for it; "
        f"known datasets: {sorted(config['data'])}. Add data.{_missing[0]} to your config or fix the name."
    )
_missing = [a for a in ARCHS if a not in config["models"]]
if _missing:
    raise ValueError(
        f"config key 'archs' names {_missing} but 'models' has no entry for it; "
        f"known models: {sorted(config['models'])}. Add models.{_missing[0]} or fix the name."
    )

wildcard_constraints:
    dataset="|".join(DATASETS),
    arch="[A-Za-z0-9_]+",


# Every stage file appends its final outputs here; `rule all` requests them.
TARGETS = []


def dataset_config(wildcards):
    """The data.<dataset> section for a job."""
    return config["data"][wildcards.dataset]


def model_config(wildcards):
    """The models.<arch> section for a job."""
    return config["models"][wildcards.arch]


def stage_enabled(stage):
    return config.get(stage, {}).get("enabled", True)


def expand_runs(pattern):
    """`pattern` for every configured dataset and arch."""
    return expand(pattern, dataset=DATASETS, arch=ARCHS)
