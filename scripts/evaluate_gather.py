"""Rule evaluate_gather (config `shards` > 1): the evaluate shards -> predictions.h5, confusion.csv."""
from skelvis.evaluate import gather_predictions
from skelvis.rulelog import rule_logging
from skelvis.settings import EvaluateConfig

with rule_logging(snakemake) as log:
    cfg = EvaluateConfig.from_section(snakemake.params.evaluate)
    cm = gather_predictions(list(snakemake.input.shards), snakemake.output.predictions,
                            snakemake.output.confusion, split=cfg.confusion_split)
    log.info("%d shards gathered; confusion:\n%s", len(snakemake.input.shards), cm.to_string())
