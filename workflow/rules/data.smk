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
    log:
        "logs/{dataset}/fetch/{file}.log",
    benchmark:
        "results/{dataset}/benchmarks/fetch/{file}.tsv"
    conda:
        ENV
    resources:
        runtime=120,
    params:
        entry=_fetch_entry,
        retries=lambda wc: dataset_config(wc).get("retries", 3),
    script:
        "../../scripts/fetch.py"


rule source:
    input:
        _source_input,
    output:
        directory("resources/{dataset}/raw"),
    log:
        "logs/{dataset}/source.log",
    benchmark:
        "results/{dataset}/benchmarks/source.tsv"
    conda:
        ENV
    resources:
        runtime=60,
    params:
        kind=_source_kind,
        path=lambda wc: dataset_config(wc).get("path", ""),
        obtain=lambda wc: dataset_config(wc).get("obtain", ""),
    script:
        "../../scripts/source.py"


rule prepare:
    input:
        unpack(_prepare_input),
    output:
        "results/{dataset}/data.h5",
    log:
        "logs/{dataset}/prepare.log",
    benchmark:
        "results/{dataset}/benchmarks/prepare.tsv"
    conda:
        ENV
    # memory: data.h5 is written a block of sequences at a time (the synthetic generator makes
    # them block by block, so it stays flat in N); a real dataset's reader still parses the raw
    # data whole, which scales with the download: at least 8 GB (a local folder's size is not known in advance)
    resources:
        mem_mb=lambda wc, input, attempt: int(
            max(
                2000 if config["data"][wc.dataset]["source"] == "synthetic" else 8000,
                2000 + 2 * input.size_mb,
            )
            * attempt
        ),
        runtime=lambda wc, attempt: (10 if config["data"][wc.dataset]["source"] == "synthetic" else 120)
        * attempt,
    params:
        data=_prepare_data,
        seed=lookup(dpath="seed", within=config),
    script:
        "../../scripts/prepare.py"


TARGETS.extend(expand("results/{dataset}/data.h5", dataset=DATASETS))
