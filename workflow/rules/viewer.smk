# viewer stage: the SkeletonVis page, one self-contained HTML file per dataset and model.
# It shows the saliency and maximize stages' results when those stages are enabled (and defined);
# with the attribution stage it computes the maps of viewer.methods for the sequences it carries
# (from the model) and shows each beside its row of the attribution benchmark.


rule viewer:
    input:
        unpack(viewer_inputs),
    output:
        html=report(
            "results/{dataset}/skelvis_{arch}.html",
            caption="../report/viewer.rst",
            category="SkeletonVis",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "model": "{arch}", "page": "SkeletonVis"},
        ),
    log:
        "logs/{dataset}/viewer/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/viewer/{arch}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        viewer=lookup(dpath="viewer", within=config),
        attribution=lookup(dpath="attribution", within=config),
        saliency=lookup(dpath="saliency", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="device", within=config),
    script:
        "../../scripts/viewer.py"


if stage_enabled("viewer"):
    TARGETS.extend(expand_runs("results/{dataset}/skelvis_{arch}.html"))
