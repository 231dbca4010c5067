# Data stage: raw data (generated, downloaded or local) -> results/{dataset}/data.h5
#
#   source http:  fetch  -> resources/{dataset}/download/<file>  (retries, sha256, atomic)
#                 source -> resources/{dataset}/raw/              (archives extracted safely)
#   source local: source -> resources/{dataset}/raw/              (folder linked / archive extracted;
#                                                                  a missing path says where to get it)
#   prepare:      raw -> results/{dataset}/data.h5
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
