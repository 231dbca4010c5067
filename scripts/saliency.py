"""Rule saliency: model + data -> saliency.h5 (class, predicted-class and hidden-unit maps; thin adapter).

Streams data.h5 chunk by chunk (skelvis.saliency.stream_saliency): memory does not grow with N.
With config `shards` > 1 it is one shard (wildcard scatteritem): the rows of
skelvis.datasets.store.shard_rows, gathered by rule saliency_gather."""
from skelvis.datasets.store import read_dataset_info, shard_rows
from skelvis.models import load_model
from skelvis.rulelog import rule_logging
from skelvis.saliency import stream_saliency
from skelvis.settings import SaliencyConfig

with rule_logging(snakemake) as log:
    cfg = SaliencyConfig.from_section(snakemake.params.cfg, device=snakemake.params.device)
    data = snakemake.input.data
    info = read_dataset_info(data)
    item = getattr(snakemake.wildcards, "scatteritem", None)
    rows = shard_rows(info.shape[0], item, data) if item else None
    model = load_model(snakemake.input.model)
    out = stream_saliency(model, data, snakemake.output.saliency, cfg, progress=True,
                          model_path=snakemake.input.model, info=info, rows=rows)
    log.info("device %s, mode %s, %d sequences, maps for units %s; unit maps kept for %d sequences "
             "(keep_unit_maps = %s), %d sequences per chunk", cfg.device, cfg.mode, out["N"], out["units"],
             out["kept"], cfg.keep_unit_maps, out["chunk"])
