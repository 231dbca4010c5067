# Periods stage (Cho et al. 2020): highly activated periods of every hidden unit, their clusters
# and purity, unit-level LRP relevance with MC-dropout uncertainty; notebook 05 draws them.


rule periods:
    input:
        data=data_file,
        model=model_file,
    output:
        periods="results/{dataset}/periods/{arch}.h5",
    log:
        "logs/{dataset}/periods/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/periods/{arch}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        periods=lookup(dpath="periods", within=config),
        seed=lookup(dpath="seed", within=config),
    script:
        "../../scripts/periods.py"


NB05_FIGURES = ["periods", "clusters", "relevance", "purity"]


rule notebook_periods:
    input:
        notebook="notebooks/05_periods.ipynb",
        data=data_file,
        periods="results/{dataset}/periods/{arch}.h5",
    output:
        notebook="results/{dataset}/reports/05_periods_{arch}.ipynb",
        png=[
            report(
                f"results/{{dataset}}/figures/{{arch}}/05_{name}.png",
                caption=f"../report/05_{name}.rst",
                category="5. periods",
                subcategory="{dataset}",
                labels={"dataset": "{dataset}", "model": "{arch}", "figure": name},
            )
            for name in NB05_FIGURES
        ],
        pdf=[f"results/{{dataset}}/figures/{{arch}}/05_{name}.pdf" for name in NB05_FIGURES],
    log:
        "logs/{dataset}/notebook_periods/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/notebook_periods/{arch}.tsv"
    conda:
        ENV
    params:
        figures=lambda w, output: str(Path(output.png[0]).parent),
        strip_frames=lookup(dpath="notebooks/strip_frames", within=config),
    shell:
        "python -m papermill {input.notebook} {output.notebook} -k python3 --no-progress-bar"
        " -p data {input.data} -p periods {input.periods} -p figures {params.figures}"
        " -p strip_frames {params.strip_frames} > {log} 2>&1"


if stage_enabled("periods"):
    TARGETS.extend(expand_runs("results/{dataset}/reports/05_periods_{arch}.ipynb"))


# Notebook 06: the configured models side by side (runs when config.archs names more than one,
# e.g. config/variants.yaml: the paper's 1-layer LSTM, a GRU and a 2-layer LSTM).
NB06_FIGURES = ["sensitivity", "sequence", "summary"]


rule notebook_variants:
    input:
        notebook="notebooks/06_variants.ipynb",
        data=data_file,
        saliency=expand("results/{{dataset}}/saliency/{arch}.h5", arch=ARCHS),
        metrics=expand("results/{{dataset}}/model/{arch}/metrics.json", arch=ARCHS),
        periods=expand("results/{{dataset}}/periods/{arch}.h5", arch=ARCHS),
    output:
        notebook="results/{dataset}/reports/06_variants.ipynb",
        png=[
            report(
                f"results/{{dataset}}/figures/variants/06_{name}.png",
                caption=f"../report/06_{name}.rst",
                category="6. variants",
                subcategory="{dataset}",
                labels={"dataset": "{dataset}", "models": ",".join(ARCHS), "figure": name},
            )
            for name in NB06_FIGURES
        ],
        pdf=[f"results/{{dataset}}/figures/variants/06_{name}.pdf" for name in NB06_FIGURES],
    log:
        "logs/{dataset}/notebook_variants/all.log",
    benchmark:
        "results/{dataset}/benchmarks/notebook_variants/all.tsv"
    conda:
        ENV
    params:
        results=lambda w, input: str(Path(input.data).parent),
        archs=",".join(ARCHS),
        figures=lambda w, output: str(Path(output.png[0]).parent),
    shell:
        "python -m papermill {input.notebook} {output.notebook} -k python3 --no-progress-bar"
        " -p results {params.results} -p archs {params.archs} -p figures {params.figures}"
        " > {log} 2>&1"


if len(ARCHS) > 1 and stage_enabled("periods") and stage_enabled("saliency"):
    TARGETS.extend(expand("results/{dataset}/reports/06_variants.ipynb", dataset=DATASETS))
