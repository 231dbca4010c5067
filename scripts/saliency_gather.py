"""Rule saliency_gather (config `shards` > 1): the saliency shards -> saliency.h5."""
from skelvis.rulelog import rule_logging
from skelvis.saliency import gather_saliency

with rule_logging(snakemake) as log:
    out = gather_saliency(list(snakemake.input.shards), snakemake.output.saliency)
    log.info("%d shards gathered: %d sequences, unit maps of %d", len(snakemake.input.shards), out["N"],
             out["kept"])
