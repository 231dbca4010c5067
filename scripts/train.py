"""Rule train: data.h5 -> model, metrics.json, history.csv (thin adapter)."""
from skelvis.datasets.store import read_dataset, read_dataset_info
from skelvis.evaluate import write_history, write_metrics
from skelvis.models import accuracy_by_split, save_model
from skelvis.rulelog import rule_logging
from skelvis.settings import TrainConfig
from skelvis.train import streams, train_classifier

with rule_logging(snakemake) as log:
    cfg = TrainConfig.from_section(snakemake.params.train, seed=snakemake.params.seed, device=snakemake.params.device)
    # x larger than train.memory_budget_mb is read lazily and streamed in blocks (train.py)
    ds = read_dataset(snakemake.input.data, lazy=streams(read_dataset_info(snakemake.input.data).shape, cfg))
    log.info("settings %s", cfg)
    model, history = train_classifier(ds, dict(snakemake.params.model), cfg,
                                      checkpoint=snakemake.params.checkpoint)
    acc = accuracy_by_split(model, ds)
    log.info("accuracy %s", acc)
    write_history(snakemake.output.history, history)
    write_metrics(snakemake.output.metrics, acc, model.spec(), snakemake.input.data,
                  best_epoch=model.meta["best_epoch"], epochs=cfg.epochs,
                  train_seconds=sum(r["seconds"] for r in history), selection=model.meta["selection"])
    save_model(model, snakemake.output.model, extra={"data": snakemake.input.data})
