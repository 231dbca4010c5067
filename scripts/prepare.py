"""Rule prepare: raw data -> results/{dataset}/data.h5 (thin adapter). What was dropped or kept
with a caveat is printed on the console as well as logged and stored in data.h5's attrs."""
from skelvis.datasets.prepare import prepare_to_file, screening_summary
from skelvis.rulelog import rule_logging

with rule_logging(snakemake) as log:
    raw = str(snakemake.input.raw) if hasattr(snakemake.input, "raw") else None  # Namedlist: `in` tests values
    # a block of sequences at a time: memory does not grow with the number of sequences
    ds = prepare_to_file(snakemake.wildcards.dataset, dict(snakemake.params.data), snakemake.output[0], raw,
                         snakemake.params.seed)
    summary = screening_summary(ds)
    log.info("%s", summary)
    print(f"prepare {summary}", flush=True)  # stdout reaches the snakemake console
