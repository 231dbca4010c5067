# Data stage: raw data (generated, downloaded or local) -> results/{dataset}/data.h5
#
#   source http:  fetch  -> resources/{dataset}/download/<file>  (retries, sha256, atomic)
#                 source -> resources/{dataset}/raw/              (archives extracted safely)
#   source local: source -> resources/{dataset}/raw/              (folder linked / archive extracted;
#                                                                  a missing path says where to get it)
#   prepare:      raw -> results/{dataset}/data.h5
import os.path


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


rule fetch:
    output:
        "resources/{dataset}/download/{file}",
    params:
        entry=_fetch_entry,
        retries=lambda wc: dataset_config(wc).get("retries", 3),
    log:
        "logs/{dataset}/fetch/{file}.log",
    benchmark:
        "results/{dataset}/benchmarks/fetch/{file}.tsv"
    resources:
        runtime=120,
    conda:
        ENV
    script:
        "../../scripts/fetch.py"


rule source:
    input:
        _source_input,
    output:
        directory("resources/{dataset}/raw"),
    params:
        kind=_source_kind,
        path=lambda wc: dataset_config(wc).get("path", ""),
        obtain=lambda wc: dataset_config(wc).get("obtain", ""),
    log:
        "logs/{dataset}/source.log",
    benchmark:
        "results/{dataset}/benchmarks/source.tsv"
    resources:
        runtime=60,
    conda:
        ENV
    script:
        "../../scripts/source.py"


rule prepare:
    input:
        unpack(_prepare_input),
    output:
        "results/{dataset}/data.h5",
    params:
        data=_prepare_data,
        seed=lookup(dpath="seed", within=config),
    log:
        "logs/{dataset}/prepare.log",
    benchmark:
        "results/{dataset}/benchmarks/prepare.tsv"
    # memory: the normalised array plus the parsed raw data, which scales with the download;
    # real datasets get at least 8 GB (a local folder's size is not known in advance)
    resources:
        mem_mb=lambda wc, input, attempt: int(
            max(2000 if config["data"][wc.dataset]["source"] == "synthetic" else 8000,
                2000 + 2 * input.size_mb) * attempt
        ),
        runtime=lambda wc, attempt: (10 if config["data"][wc.dataset]["source"] == "synthetic" else 120)
        * attempt,
    conda:
        ENV
    script:
        "../../scripts/prepare.py"


TARGETS.extend(expand("results/{dataset}/data.h5", dataset=DATASETS))
