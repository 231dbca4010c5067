"""Rule import_model: the user's own model file -> results/{dataset}/model/{arch}.pt (+ metrics, history).

Replaces `train` for archs with models.<arch>.import; later stages cannot tell the difference.
"""
import json

import pandas as pd

from skelvis.datasets.store import atomic_path, read_dataset
from skelvis.importers import prepare_imported
from skelvis.models import save_model
from skelvis.rulelog import rule_logging

with rule_logging(snakemake) as log:
    ds = read_dataset(snakemake.input.data)
    spec = snakemake.params.spec
    model, acc, history = prepare_imported(snakemake.input.model, spec if spec else None, ds)
    log.info("imported %s: %s; accuracy %s", snakemake.input.model, model.spec(), acc)
    metrics = {"accuracy": acc, "best_epoch": 0, "epochs": 0, "model": model.spec(),
               "data": snakemake.input.data, "imported_from": snakemake.input.model, "train_seconds": 0.0}
    with atomic_path(snakemake.output.history) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    with atomic_path(snakemake.output.metrics) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    save_model(model, snakemake.output.model, extra={"data": snakemake.input.data,
                                                      "imported_from": snakemake.input.model})
