# Attribution stage (issue 18, skelvis.attribution): every attribution method scored on ground truth,
# deletion and insertion, faithfulness correlation, model randomisation, stability and cost, on a
# bounded subset of sequences, and the figures of notebook 07. Where the shortcut stage trains a
# control model, the benchmark also asks which map tells it from the model that uses the cue; with
# attribution.second_seed a second training of the arch gives the maps' stability across seeds.


# The same architecture trained again with the next seed: the maps' stability across training runs.
rule train_seed:
    input:
        data=data_file,
    output:
        model="results/{dataset}/attribution/{arch}_seed2.pt",
        metrics="results/{dataset}/attribution/{arch}_seed2/metrics.json",
        history="results/{dataset}/attribution/{arch}_seed2/history.csv",
    log:
        "logs/{dataset}/train_seed/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/train_seed/{arch}.tsv"
    conda:
        ENV
    threads: 8
    resources:
        mem_mb=lambda wc, input, attempt: int(2000 + 3 * input.size_mb) * attempt,
        runtime=lambda wc, input, attempt: int(
            30 + input.size_mb * 33 * config["train"]["epochs"] / (200 * 60)
        )
        * attempt,
    params:
        model=model_config,
        train=lookup(dpath="train", within=config),
        seed=lambda wc: config["seed"] + 1,
        device=lookup(dpath="device", within=config),
        checkpoint="results/{dataset}/attribution/{arch}_seed2/checkpoint.pt",
    script:
        "../../scripts/train.py"


rule attribution_benchmark:
    input:
        unpack(attribution_inputs),
    output:
        csv=report(
            "results/{dataset}/attribution/{arch}_benchmark.csv",
            caption="../report/attribution_benchmark.rst",
            category="7. attribution",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{arch}", "figure": "benchmark table"},
        ),
        h5="results/{dataset}/attribution/{arch}_benchmark.h5",
    log:
        "logs/{dataset}/attribution_benchmark/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/attribution_benchmark/{arch}.tsv"
    conda:
        ENV
    threads: 1  # many small kernels: extra threads only spin on a busy machine
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        cfg=lookup(dpath="attribution", within=config),
        saliency=lookup(dpath="saliency", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="device", within=config),
    script:
        "../../scripts/attribution_benchmark.py"


NB07_FIGURES = ["table", "shortcut", "curves", "randomisation", "throw_kick"]


rule notebook_attribution:
    input:
        notebook="notebooks/07_attribution.ipynb",
        data=data_file,
        benchmark="results/{dataset}/attribution/{arch}_benchmark.csv",
        maps="results/{dataset}/attribution/{arch}_benchmark.h5",
    output:
        notebook="results/{dataset}/reports/07_attribution_{arch}.ipynb",
        png=[
            report(
                f"results/{{dataset}}/figures/{{arch}}/07_{name}.png",
                caption=f"../report/07_{name}.rst",
                category="7. attribution",
                subcategory="{dataset}",
                labels={"dataset": "{dataset}", "model": "{arch}", "figure": name},
            )
            for name in NB07_FIGURES
        ],
        pdf=[f"results/{{dataset}}/figures/{{arch}}/07_{name}.pdf" for name in NB07_FIGURES],
    log:
        "logs/{dataset}/notebook_attribution/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/notebook_attribution/{arch}.tsv"
    conda:
        ENV
    params:
        figures="results/{dataset}/figures/{arch}",
    shell:
        "python -m papermill {input.notebook} {output.notebook} -k python3 --no-progress-bar"
        " -p data {input.data} -p benchmark {input.benchmark} -p maps {input.maps}"
        " -p figures {params.figures} > {log} 2>&1"


if stage_enabled("attribution"):
    TARGETS.extend(expand_runs("results/{dataset}/reports/07_attribution_{arch}.ipynb"))
