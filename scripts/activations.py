"""Rule activations: data.h5 + model -> activations/{arch}.h5 (hidden states of every sample).

Streams data.h5 batch by batch into a pre-sized chunked file (skelvis.activations.stream_activations).
With config `shards` > 1 it is one shard (wildcard scatteritem), gathered by rule activations_gather."""
from skelvis.activations import stream_activations
from skelvis.datasets.store import read_dataset_info, shard_rows
from skelvis.models import load_model
from skelvis.rulelog import rule_logging
from skelvis.settings import ActivationsConfig

with rule_logging(snakemake) as log:
    cfg = ActivationsConfig.from_section(snakemake.params.activations, device=snakemake.params.device)
    data = snakemake.input.data
    info = read_dataset_info(data)
    rows = shard_rows(info.shape[0], getattr(snakemake.wildcards, "scatteritem", None), data)
    model = load_model(snakemake.input.model)
    out = stream_activations(model, data, snakemake.output.activations, cfg, rows=rows,
                             model_path=snakemake.input.model, info=info)
    log.info("%s %d layer(s): stored layer %d for sequences %d to %d of %d (H = %d) on %s", model.cell,
             model.num_layers, out["layer"], rows.start, rows.stop, info.shape[0], out["H"], cfg.device)
