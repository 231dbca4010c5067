# Readable notebooks: every executed notebook the run asks for also becomes an HTML page (nbconvert,
# figures embedded) that the report links. Included last: it reads the notebook targets of every stage.


rule notebook_html:
    input:
        "results/{dataset}/reports/{notebook}.ipynb",
    output:
        report(
            "results/{dataset}/reports/{notebook}.html",
            caption="../report/notebook_html.rst",
            category="Notebooks",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "notebook": "{notebook}"},
        ),
    log:
        "logs/{dataset}/notebook_html/{notebook}.log",
    benchmark:
        "results/{dataset}/benchmarks/notebook_html/{notebook}.tsv"
    wildcard_constraints:
        notebook="[^/]+",
    conda:
        ENV
    shell:
        "jupyter nbconvert --to html --output-dir $(dirname {output}) --output $(basename {output} .html)"
        " {input} > {log} 2>&1"


TARGETS.extend([t[: -len(".ipynb")] + ".html" for t in list(TARGETS) if str(t).endswith(".ipynb")])
