"""Rule prepare: raw data -> results/{dataset}/data.h5 (thin adapter)."""
from skelvis.datasets.prepare import prepare_dataset
from skelvis.datasets.store import write_dataset
from skelvis.rulelog import rule_logging

with rule_logging(snakemake):
    raw = str(snakemake.input.raw) if "raw" in snakemake.input.keys() else None
    ds = prepare_dataset(snakemake.wildcards.dataset, dict(snakemake.params.data), raw, snakemake.params.seed)
    write_dataset(ds, snakemake.output[0])
