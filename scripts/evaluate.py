"""Rule evaluate: model + data -> predictions.h5, confusion.csv (thin adapter).

Reads data.h5 in chunks (skelvis.evaluate.stream_evaluation). With config `shards` > 1 it is one
shard (wildcard scatteritem, rows from skelvis.datasets.store.shard_rows) and writes only that
shard's predictions; rule evaluate_gather writes both files."""
from skelvis.datasets.store import read_dataset_info, shard_rows
from skelvis.evaluate import confusion_split, stream_evaluation, write_confusion, write_predictions
from skelvis.models import load_model
from skelvis.rulelog import rule_logging
from skelvis.settings import EvaluateConfig

with rule_logging(snakemake) as log:
    cfg = EvaluateConfig.from_section(snakemake.params.evaluate)
    data = snakemake.input.data
    info = read_dataset_info(data)
    rows = shard_rows(info.shape[0], getattr(snakemake.wildcards, "scatteritem", None), data)
    model = load_model(snakemake.input.model)
    result, ds = stream_evaluation(model, data, rows, info=info)
    log.info("sequences %d to %d of %d", rows.start, rows.stop, info.shape[0])
    write_predictions(result, ds, snakemake.output.predictions, model=snakemake.input.model, data=data)
    if hasattr(snakemake.output, "confusion"):
        cm = write_confusion(result, ds, snakemake.output.confusion, split=cfg.confusion_split)
        log.info("confusion on the %s split:\n%s", confusion_split(ds.split, cfg.confusion_split), cm.to_string())
