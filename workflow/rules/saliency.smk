# Saliency stage: joint sensitivity (Patil et al. Eq. 1-5) for classes and hidden units, its
# faithfulness on ground-truth joints and under deletion, and the figures of notebook 02.


rule saliency:
    input:
        data=shard_data_file,
        model=model_file,
    output:
        saliency=shard_output("results/{dataset}/saliency/{arch}.h5", "saliency"),
    log:
        shard_log("logs/{dataset}/saliency/{arch}.log"),
    benchmark:
        shard_log("results/{dataset}/benchmarks/saliency/{arch}.tsv")
    conda:
        ENV
    threads: 1  # many small kernels: extra threads only spin on a busy machine
    # memory: one chunk of ~64 MB of Jacobian; runtime: ~0.1 min per MB of data.h5 on one core
    # (measured at 8,000 sequences, ~21 KB each), shared by the shards, with a margin
    resources:
        mem_mb=4000,
        runtime=lambda wc, input, attempt: int(30 + input.size_mb / 4 / SHARDS) * attempt,
    params:
        cfg=lookup(dpath="saliency", within=config),
        device=lookup(dpath="device", within=config),
    script:
        "../../scripts/saliency.py"


rule faithfulness:
    input:
        data=shard_data_file,
        model=model_file,
        saliency="results/{dataset}/saliency/{arch}.h5",
    output:
        # one shard's sums (HDF5) when config `shards` > 1, added up by rule faithfulness_gather
        json=shard_output("results/{dataset}/saliency/{arch}_faithfulness.json", "faithfulness"),
    log:
        shard_log("logs/{dataset}/faithfulness/{arch}.log"),
    benchmark:
        shard_log("results/{dataset}/benchmarks/faithfulness/{arch}.tsv")
    conda:
        ENV
    threads: 1  # many small kernels: extra threads only spin on a busy machine
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=lookup(dpath="saliency", within=config),
        device=lookup(dpath="device", within=config),
        seed=lookup(dpath="seed", within=config),
    script:
        "../../scripts/faithfulness.py"


NB02_FIGURES = ["throw_kick", "confused_pair", "class_heatmaps", "unit_maps", "faithfulness"]


rule notebook_saliency:
    input:
        notebook="notebooks/02_saliency.ipynb",
        data=data_file,
        model=model_file,
        saliency="results/{dataset}/saliency/{arch}.h5",
        faithfulness="results/{dataset}/saliency/{arch}_faithfulness.json",
        predictions="results/{dataset}/model/{arch}/predictions.h5",
        confusion="results/{dataset}/model/{arch}/confusion.csv",
        shortcut=shortcut_json,
    output:
        notebook="results/{dataset}/reports/02_saliency_{arch}.ipynb",
        png=[
            report(
                f"results/{{dataset}}/figures/{{arch}}/02_{name}.png",
                caption=f"../report/02_{name}.rst",
                category="2. saliency",
                subcategory="{dataset}",
                labels={"dataset": "{dataset}", "model": "{arch}", "figure": name},
            )
            for name in NB02_FIGURES
        ],
        pdf=[f"results/{{dataset}}/figures/{{arch}}/02_{name}.pdf" for name in NB02_FIGURES],
    log:
        "logs/{dataset}/notebook_saliency/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/notebook_saliency/{arch}.tsv"
    conda:
        ENV
    params:
        figures="results/{dataset}/figures/{arch}",
        shortcut=lambda wc, input: input.shortcut if isinstance(input.shortcut, str) else "",
    shell:
        "python -m papermill {input.notebook} {output.notebook} -k python3 --no-progress-bar"
        " -p data {input.data} -p model {input.model} -p saliency {input.saliency}"
        " -p faithfulness {input.faithfulness} -p predictions {input.predictions}"
        " -p confusion {input.confusion} -p figures {params.figures} -p shortcut '{params.shortcut}' > {log} 2>&1"


if stage_enabled("saliency"):
    TARGETS.extend(expand_runs("results/{dataset}/reports/02_saliency_{arch}.ipynb"))
