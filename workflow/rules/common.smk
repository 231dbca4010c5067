# Shared helpers: config validation, target list, input functions. Only helpers live here; the
# stage files hold rules only (snakemake --lint).
import os
import shlex
import sys
from pathlib import Path

from snakemake.settings.types import DeploymentMethod

from skelvis.config import validate_config
from skelvis.inputs import check_data_file, check_hdf5_file, check_model_file
from skelvis.runlock import clear_stale_lock, record_holder, release_holder

# Validates (one line naming the key on error) and fills defaults, also inside the stage schemas.
validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")

# A lock left by a killed snakemake is removed when its process is gone (skelvis.runlock), so that
# "run the same command again" resumes; the running snakemake records itself once it holds the lock.
if workflow.is_main_process:
    _stale = clear_stale_lock()
    if _stale:
        print(_stale, file=sys.stderr)


onstart:
    record_holder()


onsuccess:
    release_holder()


onerror:
    release_holder()


DATASETS = list(config["datasets"])
ARCHS = list(config["archs"])
ENV = "../../envs/skelvis.yaml"
# envs/skelvis.post-deploy.sh installs skelvis into the conda environment from this checkout.
os.environ["SKELVIS_SOURCE"] = str(Path(workflow.basedir).parent)


envvars:
    "SKELVIS_SOURCE",


# Shell rules run `python -m papermill`: with --sdm conda the environment's python, otherwise the
# interpreter that runs snakemake, found first on PATH, so `.venv/bin/snakemake` works without an
# activated venv (Snakemake's script: directive makes the same choice for scripts).
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    shell.prefix(f'set -euo pipefail; export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"; ')

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


# Input functions that check an existing file before any job that depends on it is scheduled:
# snakemake would rerun those jobs (their input changed) and delete their outputs first, so a
# damaged data.h5 would cost the trained model. Instead the run stops here, deleting nothing,
# and the message says how to rebuild the file (skelvis.inputs).
def data_file(wildcards):
    """results/{dataset}/data.h5, checked when it exists."""
    path = f"results/{wildcards.dataset}/data.h5"
    check_data_file(
        path,
        wildcards.dataset,
        fix=f"To rebuild it: rm {path}, then run the same snakemake command again. Results already made "
        f"from it are kept; prepare writes it anew from the raw data when a job needs it (snakemake {path}, "
        "or the default target), and training then resumes from its finished checkpoint "
        f"results/{wildcards.dataset}/model/<arch>/checkpoint.pt (unchanged data: the same weights, no "
        "training again); later results are recomputed.",
    )
    return path


def model_file(wildcards):
    """results/{dataset}/model/{arch}.pt, checked when it exists."""
    path = f"results/{wildcards.dataset}/model/{wildcards.arch}.pt"
    source = config["models"][wildcards.arch].get("import")
    how = (
        f"import_model writes it again from {source}"
        if source
        else f"training resumes from results/{wildcards.dataset}/model/{wildcards.arch}/checkpoint.pt, "
        "so it is not trained again"
    )
    check_model_file(
        path, fix=f"To rebuild it: rm {path}, then run the same snakemake command again ({how})."
    )
    return path


def activations_file(wildcards):
    """results/{dataset}/activations/{arch}.h5, checked when it exists."""
    path = f"results/{wildcards.dataset}/activations/{wildcards.arch}.h5"
    check_hdf5_file(
        path, fix=f"To rebuild it: rm {path}, then run the same snakemake command again (rule activations)."
    )
    return path


# data stage (rules/data.smk)


def _source_kind(wildcards):
    return dataset_config(wildcards).get("source", "synthetic")


def _url_file(url):
    """The file name a URL is stored under (query and fragment dropped)."""
    name = os.path.basename(url.split("?", 1)[0].split("#", 1)[0].rstrip("/"))
    return name or "download"


def _fetch_entry(wildcards):
    """(url, sha256, key) for resources/{dataset}/download/{file}."""
    cfg = dataset_config(wildcards)
    extra = cfg.get("downloads", {})
    if wildcards.file in extra:
        e = extra[wildcards.file]
        return e["url"], e.get("sha256", ""), f"data.{wildcards.dataset}.downloads.{wildcards.file}.sha256"
    return cfg.get("url", ""), cfg.get("sha256", ""), f"data.{wildcards.dataset}.sha256"


def _download_paths(wildcards):
    """Extra downloaded files (data.<dataset>.downloads) by name."""
    names = dataset_config(wildcards).get("downloads", {})
    return {n: f"resources/{wildcards.dataset}/download/{n}" for n in names}


def _source_input(wildcards):
    cfg = dataset_config(wildcards)
    kind = cfg.get("source", "synthetic")
    if kind == "http":
        if not cfg.get("url"):
            raise ValueError(f"config key 'data.{wildcards.dataset}.url': source http needs a url")
        return [f"resources/{wildcards.dataset}/download/{_url_file(cfg['url'])}"]
    if kind == "local" and cfg.get("path") and os.path.exists(cfg["path"]):
        return [cfg["path"]]
    return []  # missing local path: the rule says where to get it and where to put it


def _prepare_input(wildcards):
    if _source_kind(wildcards) == "synthetic":
        return {}
    return {"raw": f"resources/{wildcards.dataset}/raw", **_download_paths(wildcards)}


def _prepare_data(wildcards):
    """The data.<dataset> section, plus the paths of its extra downloads under `_downloads`."""
    cfg = dict(dataset_config(wildcards))
    if _source_kind(wildcards) != "synthetic":
        cfg["_downloads"] = _download_paths(wildcards)
    return cfg


# viewer stage (rules/viewer.smk)


def _rule_defined(name):
    return any(r.name == name for r in workflow.rules)


def viewer_inputs(wildcards):
    """data, model outputs, and the optional stage outputs the page can show (with the attribution
    stage: the model and the attribution benchmark's table)."""
    inputs = {
        "data": data_file(wildcards),
        "metrics": f"results/{wildcards.dataset}/model/{wildcards.arch}/metrics.json",
        "predictions": f"results/{wildcards.dataset}/model/{wildcards.arch}/predictions.h5",
    }
    run = f"results/{wildcards.dataset}"
    optional = {
        "saliency": ("saliency", f"{run}/saliency/{wildcards.arch}.h5"),
        "faithfulness": (
            "faithfulness",
            f"{run}/saliency/{wildcards.arch}_faithfulness.json",
        ),
        "maximize": ("maximize", f"{run}/maximize/{wildcards.arch}.h5"),
        "activations": ("activations", f"{run}/activations/{wildcards.arch}.h5"),
        "paths": ("autoencoder", f"{run}/autoencoder/{wildcards.arch}_2d_paths.h5"),
        "quality": (
            "autoencoder",
            f"{run}/autoencoder/{wildcards.arch}_2d_projection_quality.json",
        ),
        "periods": ("periods", f"{run}/periods/{wildcards.arch}.h5"),
    }
    for name, (rule, path) in optional.items():
        stage = "saliency" if rule == "faithfulness" else rule
        if stage_enabled(stage) and _rule_defined(rule):
            inputs[name] = path
    # the attribution methods of viewer.methods, computed for the page's sequences from the model,
    # with their numbers from the attribution benchmark
    if stage_enabled("attribution") and _rule_defined("attribution_benchmark"):
        inputs["model"] = model_file(wildcards)
        inputs["benchmark"] = f"{run}/attribution/{wildcards.arch}_benchmark.csv"
    return inputs


# shortcut stage (rules/shortcut.smk)


def shortcut_datasets():
    """Datasets whose synthetic generator plants a shortcut and asks for its control model."""
    out = []
    for d in DATASETS:
        dc = config["data"][d]
        syn = dc.get("synthetic", {})
        sc = syn.get("shortcut", {})
        if (
            dc.get("reader") == "synthetic"
            and sc.get("enabled", True)
            and sc.get("control", True)
            and sc.get("class") in syn.get("classes", [])
        ):
            out.append(d)
    return out


def control_data_config(wildcards):
    """data.<dataset> with the shortcut switched off: the control model's training data."""
    dc = dict(config["data"][wildcards.dataset])
    syn = dict(dc.get("synthetic", {}))
    syn["shortcut"] = dict(syn.get("shortcut", {}), enabled=False)
    dc["synthetic"] = syn
    return dc


def shortcut_json(wildcards):
    """The shortcut table (JSON) of a run, or nothing where its data has no planted shortcut."""
    if wildcards.dataset in shortcut_datasets() and not config["models"][wildcards.arch].get("import"):
        return f"results/{wildcards.dataset}/saliency/{wildcards.arch}_shortcut.json"
    return []


# attribution stage (rules/attribution.smk)


def attribution_inputs(wildcards):
    """data and model, plus the shortcut stage's control model and its cue-free data where it
    trains one, and the second seed's model (attribution.second_seed) for a trained arch."""
    inputs = {"data": data_file(wildcards), "model": model_file(wildcards)}
    trained = not config["models"][wildcards.arch].get("import")
    if trained and wildcards.dataset in shortcut_datasets():
        inputs["control"] = f"results/{wildcards.dataset}/shortcut/{wildcards.arch}_control.pt"
        inputs["control_data"] = f"results/{wildcards.dataset}/shortcut/control_data.h5"
    if trained and config["attribution"].get("second_seed", True):
        inputs["seed_model"] = f"results/{wildcards.dataset}/attribution/{wildcards.arch}_seed2.pt"
    return inputs
