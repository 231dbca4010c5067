# Shortcut stage (synthetic data with a planted cue, skelvis.shortcut): a control model trained on
# the same data without the cue, and the table of saliency mass on the cue against the class's own
# joints, with and without it, plus what activation maximisation does to the cue.

SHORTCUT_DATASETS = shortcut_datasets()
TRAINED_ARCHS = [a for a in ARCHS if not config["models"][a].get("import")]


rule prepare_control:
    output:
        "results/{dataset}/shortcut/control_data.h5",
    log:
        "logs/{dataset}/prepare_control.log",
    benchmark:
        "results/{dataset}/benchmarks/prepare_control.tsv"
    conda:
        ENV
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    params:
        data=control_data_config,
        seed=lookup(dpath="seed", within=config),
    script:
        "../../scripts/prepare.py"


rule train_control:
    input:
        data="results/{dataset}/shortcut/control_data.h5",
    output:
        model="results/{dataset}/shortcut/{arch}_control.pt",
        metrics="results/{dataset}/shortcut/{arch}_control/metrics.json",
        history="results/{dataset}/shortcut/{arch}_control/history.csv",
    log:
        "logs/{dataset}/train_control/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/train_control/{arch}.tsv"
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
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="device", within=config),
        checkpoint="results/{dataset}/shortcut/{arch}_control/checkpoint.pt",
    script:
        "../../scripts/train.py"


rule shortcut:
    input:
        data="results/{dataset}/data.h5",
        model="results/{dataset}/model/{arch}.pt",
        control="results/{dataset}/shortcut/{arch}_control.pt",
        control_data="results/{dataset}/shortcut/control_data.h5",
    output:
        json="results/{dataset}/saliency/{arch}_shortcut.json",
        csv=report(
            "results/{dataset}/saliency/{arch}_shortcut.csv",
            caption="../report/shortcut.rst",
            category="2. saliency",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{arch}", "figure": "shortcut table"},
        ),
    log:
        "logs/{dataset}/shortcut/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/shortcut/{arch}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        saliency=lookup(dpath="saliency", within=config),
        maximize=lookup(dpath="maximize", within=config),
        maximize_sequences=4,
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="device", within=config),
    script:
        "../../scripts/shortcut.py"


TARGETS.extend(
    expand("results/{dataset}/saliency/{arch}_shortcut.csv", dataset=SHORTCUT_DATASETS, arch=TRAINED_ARCHS)
)
