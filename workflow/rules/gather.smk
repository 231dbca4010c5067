# Gather rules of the sharded stages (config `shards` > 1; helpers in rules/shards.smk): each writes
# the file a one-shard run writes, from its shards' files in row order. A failed shard leaves no
# gathered file; rerunning redoes only the missing shards.


if SHARDED:

    rule evaluate_gather:
        input:
            shards=shard_inputs("evaluate"),
        output:
            predictions="results/{dataset}/model/{arch}/predictions.h5",
            confusion="results/{dataset}/model/{arch}/confusion.csv",
        log:
            "logs/{dataset}/evaluate_gather/{arch}.log",
        benchmark:
            "results/{dataset}/benchmarks/evaluate_gather/{arch}.tsv"
        conda:
            ENV
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=lambda wc, input, attempt: int(10 + input.size_mb / 100) * attempt,
        params:
            evaluate=lookup(dpath="evaluate", within=config),
        script:
            "../../scripts/evaluate_gather.py"

    rule saliency_gather:
        input:
            shards=shard_inputs("saliency"),
        output:
            saliency="results/{dataset}/saliency/{arch}.h5",
        log:
            "logs/{dataset}/saliency_gather/{arch}.log",
        benchmark:
            "results/{dataset}/benchmarks/saliency_gather/{arch}.tsv"
        conda:
            ENV
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=lambda wc, input, attempt: int(10 + input.size_mb / 20) * attempt,
        script:
            "../../scripts/saliency_gather.py"

    rule faithfulness_gather:
        input:
            shards=shard_inputs("faithfulness"),
            data=data_file,
            model=model_file,
            saliency="results/{dataset}/saliency/{arch}.h5",
        output:
            json="results/{dataset}/saliency/{arch}_faithfulness.json",
        log:
            "logs/{dataset}/faithfulness_gather/{arch}.log",
        benchmark:
            "results/{dataset}/benchmarks/faithfulness_gather/{arch}.tsv"
        conda:
            ENV
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=lambda wc, attempt: 10 * attempt,
        params:
            cfg=lookup(dpath="saliency", within=config),
            device=lookup(dpath="device", within=config),
            seed=lookup(dpath="seed", within=config),
        script:
            "../../scripts/faithfulness_gather.py"

    rule activations_gather:
        input:
            shards=shard_inputs("activations"),
        output:
            activations="results/{dataset}/activations/{arch}.h5",
        log:
            "logs/{dataset}/activations_gather/{arch}.log",
        benchmark:
            "results/{dataset}/benchmarks/activations_gather/{arch}.tsv"
        conda:
            ENV
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=lambda wc, input, attempt: int(10 + input.size_mb / 20) * attempt,
        script:
            "../../scripts/activations_gather.py"
