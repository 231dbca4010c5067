"""Rule import_model: the user's own model file -> results/{dataset}/model/{arch}.pt (+ metrics, history).

Replaces `train` for archs with models.<arch>.import; later stages cannot tell the difference.
"""
from skelvis.datasets.store import read_dataset
from skelvis.evaluate import write_history, write_metrics
from skelvis.importers import prepare_imported
from skelvis.models import save_model
from skelvis.rulelog import rule_logging

with rule_logging(snakemake) as log:
    ds = read_dataset(snakemake.input.data)
    spec = snakemake.params.spec
    model, acc, history = prepare_imported(snakemake.input.model, spec if spec else None, ds)
    log.info("imported %s: %s; accuracy %s", snakemake.input.model, model.spec(), acc)
    write_history(snakemake.output.history, history)
    write_metrics(snakemake.output.metrics, acc, model.spec(), snakemake.input.data, best_epoch=0, epochs=0,
                  train_seconds=0.0, imported_from=snakemake.input.model)
    save_model(model, snakemake.output.model, extra={"data": snakemake.input.data,
                                                      "imported_from": snakemake.input.model})
