# Model stage: train the recurrent classifiers, evaluate them, and draw the data/model figures.

# Archs with models.<arch>.import are imported (rule import_model) instead of trained.
IMPORTED_ARCHS = [a for a in ARCHS if config["models"][a].get("import")]


rule import_model:
    input:
        data=data_file,
        model=lambda wc: config["models"][wc.arch]["import"],
    output:
        model="results/{dataset}/model/{arch}.pt",
        metrics="results/{dataset}/model/{arch}/metrics.json",
        history="results/{dataset}/model/{arch}/history.csv",
    log:
        "logs/{dataset}/import_model/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/import_model/{arch}.tsv"
    wildcard_constraints:
        arch="|".join(IMPORTED_ARCHS) or "(?!)",
    conda:
        ENV
    params:
        spec=lambda wc: config["models"][wc.arch].get("spec") or None,
    script:
        "../../scripts/import_model.py"


ruleorder: import_model > train


rule train:
    input:
        data=data_file,
    output:
        model="results/{dataset}/model/{arch}.pt",
        metrics="results/{dataset}/model/{arch}/metrics.json",
        history="results/{dataset}/model/{arch}/history.csv",
    log:
        "logs/{dataset}/train/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/train/{arch}.tsv"
    conda:
        ENV
    threads: 8
    # memory: data.h5 is read whole (about 3x its size with the tensors) when x is at most
    # train.memory_budget_mb, else streamed in blocks (a window of 8,192 sequences), plus torch itself;
    # runtime: ~30 KB per 100-frame sequence, every sequence once per epoch at >= 200 sequences/s
    # (a GPU or 8 cores; benchmarks/bench_gpu_training.py), plus a fixed 30 min
    resources:
        mem_mb=lambda wc, input, attempt: int(
            2000 + 3 * min(input.size_mb, config["train"]["memory_budget_mb"])
        )
        * attempt,
        runtime=lambda wc, input, attempt: int(
            30 + input.size_mb * 33 * config["train"]["epochs"] / (200 * 60)
        )
        * attempt,
    params:
        model=model_config,
        train=lookup(dpath="train", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="device", within=config),
        checkpoint="results/{dataset}/model/{arch}/checkpoint.pt",
    script:
        "../../scripts/train.py"


rule evaluate:
    input:
        data=shard_data_file,
        model=model_file,
    output:
        # with config `shards` > 1: one shard's predictions only (rule evaluate_gather writes both)
        **({} if SHARDED else {"confusion": "results/{dataset}/model/{arch}/confusion.csv"}),
        predictions=shard_output("results/{dataset}/model/{arch}/predictions.h5", "evaluate"),
    log:
        shard_log("logs/{dataset}/evaluate/{arch}.log"),
    benchmark:
        shard_log("results/{dataset}/benchmarks/evaluate/{arch}.tsv")
    conda:
        ENV
    threads: 2
    # memory: data.h5 is read 1,024 sequences at a time (~30 KB each at 100 frames), plus torch
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, input, attempt: int(15 + input.size_mb / 100 / SHARDS) * attempt,
    params:
        evaluate=lookup(dpath="evaluate", within=config),
    script:
        "../../scripts/evaluate.py"


NB01_FIGURES = ["summary", "skeletons", "training", "confusion"]


rule notebook_data_model:
    input:
        notebook="notebooks/01_data_and_model.ipynb",
        data=data_file,
        model=model_file,
        metrics="results/{dataset}/model/{arch}/metrics.json",
        history="results/{dataset}/model/{arch}/history.csv",
        predictions="results/{dataset}/model/{arch}/predictions.h5",
        confusion="results/{dataset}/model/{arch}/confusion.csv",
    output:
        notebook="results/{dataset}/reports/01_data_and_model_{arch}.ipynb",
        png=[
            report(
                f"results/{{dataset}}/figures/{{arch}}/01_{name}.png",
                caption=f"../report/01_{name}.rst",
                category="1. data_and_model",
                subcategory="{dataset}",
                labels={"dataset": "{dataset}", "model": "{arch}", "figure": name},
            )
            for name in NB01_FIGURES
        ],
        pdf=[f"results/{{dataset}}/figures/{{arch}}/01_{name}.pdf" for name in NB01_FIGURES],
    log:
        "logs/{dataset}/notebook_data_model/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/notebook_data_model/{arch}.tsv"
    conda:
        ENV
    params:
        figures="results/{dataset}/figures/{arch}",
        strip_frames=lookup(dpath="notebooks/strip_frames", within=config),
        confusion_split=lookup(dpath="evaluate/confusion_split", within=config),
    shell:
        "python -m papermill {input.notebook} {output.notebook} -k python3 --no-progress-bar"
        " -p data {input.data} -p model {input.model} -p metrics {input.metrics}"
        " -p history {input.history} -p predictions {input.predictions}"
        " -p confusion {input.confusion} -p figures {params.figures}"
        " -p strip_frames {params.strip_frames} -p confusion_split_wanted {params.confusion_split} > {log} 2>&1"


TARGETS.extend(expand_runs("results/{dataset}/reports/01_data_and_model_{arch}.ipynb"))
