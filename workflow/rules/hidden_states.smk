# Hidden-state stage: activations of every sample, denoising-autoencoder projections (2-D, 3-D)
# measured against PCA, and notebook 04 (the figures of Tempczyk and Bartołd's Auslan blog).
import json


rule activations:
    input:
        data=shard_data_file,
        model=model_file,
    output:
        activations=shard_output("results/{dataset}/activations/{arch}.h5", "activations"),
    log:
        shard_log("logs/{dataset}/activations/{arch}.log"),
    benchmark:
        shard_log("results/{dataset}/benchmarks/activations/{arch}.tsv")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=lambda wc, input, attempt: int(30 + input.size_mb / 20 / SHARDS) * attempt,
    params:
        activations=lookup(dpath="activations", within=config),
        device=lookup(dpath="device", within=config),
    script:
        "../../scripts/activations.py"


rule autoencoder:
    input:
        activations=activations_file,
    output:
        model="results/{dataset}/autoencoder/{arch}_{k}d.pt",
        paths="results/{dataset}/autoencoder/{arch}_{k}d_paths.h5",
        quality="results/{dataset}/autoencoder/{arch}_{k}d_projection_quality.json",
        history="results/{dataset}/autoencoder/{arch}_{k}d_history.csv",
    log:
        "logs/{dataset}/autoencoder/{arch}_{k}d.log",
    benchmark:
        "results/{dataset}/benchmarks/autoencoder/{arch}_{k}d.tsv"
    wildcard_constraints:
        k="[23]",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        autoencoder=lookup(dpath="autoencoder", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="device", within=config),
        checkpoint="results/{dataset}/autoencoder/{arch}_{k}d_checkpoint.pt",
    script:
        "../../scripts/autoencoder.py"


NB04_FIGURES = [
    "paths",
    "paths_large",
    "last_step",
    "paths_3d",
    "body_parts",
    "pairs",
    "misclassified_train",
    "misclassified_validation",
    "misclassified_test",
    "quality",
]


rule notebook_hidden_states:
    input:
        notebook="notebooks/04_hidden_states.ipynb",
        data=data_file,
        model=model_file,
        confusion="results/{dataset}/model/{arch}/confusion.csv",
        activations=activations_file,
        paths2="results/{dataset}/autoencoder/{arch}_2d_paths.h5",
        paths3="results/{dataset}/autoencoder/{arch}_3d_paths.h5",
        quality2="results/{dataset}/autoencoder/{arch}_2d_projection_quality.json",
        quality3="results/{dataset}/autoencoder/{arch}_3d_projection_quality.json",
    output:
        notebook="results/{dataset}/reports/04_hidden_states_{arch}.ipynb",
        png=[
            report(
                f"results/{{dataset}}/figures/{{arch}}/04_{name}.png",
                caption=f"../report/04_{name}.rst",
                category="4. hidden_states",
                subcategory="{dataset}",
                labels={"dataset": "{dataset}", "model": "{arch}", "figure": name},
            )
            for name in NB04_FIGURES
        ],
        pdf=[f"results/{{dataset}}/figures/{{arch}}/04_{name}.pdf" for name in NB04_FIGURES],
        gif=report(
            "results/{dataset}/figures/{arch}/04_animation.gif",
            caption="../report/04_animation.rst",
            category="4. hidden_states",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{arch}", "figure": "animation"},
        ),
    log:
        "logs/{dataset}/notebook_hidden_states/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/notebook_hidden_states/{arch}.tsv"
    conda:
        ENV
    params:
        figures="results/{dataset}/figures/{arch}",
        pairs_confusion=lookup(dpath="autoencoder/pairs_from_confusion", within=config),
        pairs_proximity=lookup(dpath="autoencoder/pairs_from_proximity", within=config),
        body_part_ratio=lookup(dpath="autoencoder/body_part_ratio", within=config),
        # passed as YAML (JSON) so that an empty or odd sample_id survives the shell
        animate_sample=lambda wc: json.dumps({"animate_sample": config["autoencoder"]["animate_sample"]}),
        gif_fps=lookup(dpath="autoencoder/gif_fps", within=config),
        max_sequences=lookup(dpath="notebooks/max_sequences", within=config),
    shell:
        "python -m papermill {input.notebook} {output.notebook} -k python3 --no-progress-bar"
        " -p data {input.data} -p model {input.model} -p confusion {input.confusion}"
        " -p activations {input.activations} -p paths2 {input.paths2} -p paths3 {input.paths3}"
        " -p quality2 {input.quality2} -p quality3 {input.quality3} -p figures {params.figures}"
        " -p pairs_from_confusion {params.pairs_confusion} -p pairs_from_proximity {params.pairs_proximity}"
        " -p body_part_ratio {params.body_part_ratio} -y {params.animate_sample:q}"
        " -p gif_fps {params.gif_fps} -p max_sequences {params.max_sequences} > {log} 2>&1"


if stage_enabled("activations"):
    TARGETS.extend(expand_runs("results/{dataset}/activations/{arch}.h5"))
if stage_enabled("autoencoder"):
    TARGETS.extend(expand_runs("results/{dataset}/reports/04_hidden_states_{arch}.ipynb"))
