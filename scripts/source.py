"""Rule source: a downloaded archive or the user's local folder/archive -> resources/{dataset}/raw."""
from skelvis.datasets.sources import stage_local
from skelvis.rulelog import rule_logging

with rule_logging(snakemake) as log:
    kind = snakemake.params.kind
    path = str(snakemake.input[0]) if len(snakemake.input) else snakemake.params.path
    if kind == "local" and not path:
        raise ValueError(f"config key 'data.{snakemake.wildcards.dataset}.path': source local needs a path "
                         f"(where to get the data: {snakemake.params.obtain or 'see the README'})")
    log.info("source %s: %s", kind, path)
    stage_local(path, snakemake.output[0], snakemake.wildcards.dataset, snakemake.params.obtain)
