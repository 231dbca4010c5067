# Maximize stage: anatomically constrained activation maximisation (Patil et al. §3.2) and its figures.


rule maximize:
    input:
        data=data_file,
        model=model_file,
    output:
        "results/{dataset}/maximize/{arch}.h5",
    log:
        "logs/{dataset}/maximize/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/maximize/{arch}.tsv"
    conda:
        ENV
    # small batched linear algebra: one thread is fastest (more threads only add sync overhead)
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        maximize=lookup(dpath="maximize", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="device", within=config),
    script:
        "../../scripts/maximize.py"


# The projected 'paper' and 'plausible' variants against soft penalties (SMART-like) and none,
# on the same model, targets, starts and steps (issue 19).
rule maximize_comparison:
    input:
        data=data_file,
        model=model_file,
    output:
        table="results/{dataset}/maximize/{arch}_comparison.csv",
        runs="results/{dataset}/maximize/{arch}_comparison.h5",
    log:
        "logs/{dataset}/maximize_comparison/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/maximize_comparison/{arch}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        maximize=lookup(dpath="maximize", within=config),
        seed=lookup(dpath="seed", within=config),
        device=lookup(dpath="device", within=config),
    script:
        "../../scripts/maximize_comparison.py"


NB03_FIGURES = ["fig2_constraints", "fig5_iterations", "fig5_paper_vs_plausible", "curves"]


rule notebook_maximize:
    input:
        notebook="notebooks/03_maximize.ipynb",
        data=data_file,
        maximize="results/{dataset}/maximize/{arch}.h5",
        # the comparison table, when maximize.comparison is on
        comparison=lambda wc: (
            f"results/{wc.dataset}/maximize/{wc.arch}_comparison.csv"
            if config.get("maximize", {}).get("comparison", True)
            else []
        ),
    output:
        notebook="results/{dataset}/reports/03_maximize_{arch}.ipynb",
        png=[
            report(
                f"results/{{dataset}}/figures/{{arch}}/03_{name}.png",
                caption=f"../report/03_{name}.rst",
                category="3. maximize",
                subcategory="{dataset}",
                labels={"dataset": "{dataset}", "model": "{arch}", "figure": name},
            )
            for name in NB03_FIGURES
        ],
        pdf=[f"results/{{dataset}}/figures/{{arch}}/03_{name}.pdf" for name in NB03_FIGURES],
        gif="results/{dataset}/figures/{arch}/03_animation.gif",
    log:
        "logs/{dataset}/notebook_maximize/{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/notebook_maximize/{arch}.tsv"
    conda:
        ENV
    params:
        figures="results/{dataset}/figures/{arch}",
    shell:
        "python -m papermill {input.notebook} {output.notebook} -k python3 --no-progress-bar"
        " -p data {input.data} -p maximize {input.maximize} -p figures {params.figures}"
        " -p comparison '{input.comparison}'"
        " > {log} 2>&1"


if stage_enabled("maximize"):
    TARGETS.extend(expand_runs("results/{dataset}/reports/03_maximize_{arch}.ipynb"))
    if config.get("maximize", {}).get("comparison", True):
        TARGETS.extend(expand_runs("results/{dataset}/maximize/{arch}_comparison.csv"))
