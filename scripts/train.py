"""Rule train: data.h5 -> model, metrics.json, history.csv (thin adapter)."""
import json

import pandas as pd

from skelvis.datasets.store import atomic_path, read_dataset
from skelvis.models import resolve_device, save_model
from skelvis.rulelog import rule_logging
from skelvis.train import TrainConfig, accuracy_by_split, train_classifier

with rule_logging(snakemake) as log:
    ds = read_dataset(snakemake.input.data)
    device = resolve_device(snakemake.params.device)
    log.info("device %s", device)
    cfg = TrainConfig(**snakemake.params.train, seed=snakemake.params.seed, device=str(device))
    model, history = train_classifier(ds, dict(snakemake.params.model), cfg,
                                      checkpoint=snakemake.params.checkpoint)
    acc = accuracy_by_split(model, ds)
    log.info("accuracy %s", acc)
    metrics = {"accuracy": acc, "best_epoch": model.meta["best_epoch"], "epochs": cfg.epochs,
               "model": model.spec(), "data": snakemake.input.data,
               "train_seconds": float(sum(r["seconds"] for r in history))}
    with atomic_path(snakemake.output.history) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    with atomic_path(snakemake.output.metrics) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    save_model(model, snakemake.output.model, extra={"data": snakemake.input.data})
