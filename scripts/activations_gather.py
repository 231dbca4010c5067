"""Rule activations_gather (config `shards` > 1): the activations shards -> activations/{arch}.h5."""
from skelvis.activations import gather_activations
from skelvis.rulelog import rule_logging

with rule_logging(snakemake) as log:
    n = gather_activations(list(snakemake.input.shards), snakemake.output.activations)
    log.info("%d shards gathered: %d sequences", len(snakemake.input.shards), n)
