"""Rule evaluate: model + data -> predictions.h5, confusion.csv (thin adapter)."""
from skelvis.datasets.store import read_dataset
from skelvis.evaluate import confusion_split, evaluate_model, write_confusion, write_predictions
from skelvis.models import load_model
from skelvis.rulelog import rule_logging
from skelvis.settings import EvaluateConfig

with rule_logging(snakemake) as log:
    cfg = EvaluateConfig.from_section(snakemake.params.evaluate)
    ds = read_dataset(snakemake.input.data)
    model = load_model(snakemake.input.model)
    result = evaluate_model(model, ds)
    write_predictions(result, ds, snakemake.output.predictions, model=snakemake.input.model,
                      data=snakemake.input.data)
    cm = write_confusion(result, ds, snakemake.output.confusion, split=cfg.confusion_split)
    log.info("confusion on the %s split:\n%s", confusion_split(ds.split, cfg.confusion_split), cm.to_string())
