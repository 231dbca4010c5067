# Data stage: raw data (generated, downloaded or local) -> results/{dataset}/data.h5


rule prepare:
    output:
        "results/{dataset}/data.h5",
    params:
        data=dataset_config,
        seed=lookup(dpath="seed", within=config),
    log:
        "logs/{dataset}/prepare.log",
    benchmark:
        "results/{dataset}/benchmarks/prepare.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        "../../scripts/prepare.py"


TARGETS.extend(expand("results/{dataset}/data.h5", dataset=DATASETS))
