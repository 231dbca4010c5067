"""Rule activations: data.h5 + model -> activations/{arch}.h5 (hidden states of every sample)."""
from skelvis.activations import compute_activations, write_activations
from skelvis.datasets.store import read_dataset
from skelvis.models import load_model
from skelvis.rulelog import rule_logging
from skelvis.settings import ActivationsConfig

with rule_logging(snakemake) as log:
    cfg = ActivationsConfig.from_section(snakemake.params.activations, device=snakemake.params.device)
    ds = read_dataset(snakemake.input.data)
    model = load_model(snakemake.input.model)
    out = compute_activations(model, ds, cfg)
    log.info("%s %d layer(s): stored layer %d, hidden %s on %s", model.cell, model.num_layers, out["layer"],
             out["hidden"].shape, cfg.device)
    write_activations(snakemake.output.activations, ds, out["hidden"], out["predicted"], out["layer"],
                      model=snakemake.input.model, data=snakemake.input.data,
                      num_layers=model.num_layers, cell=model.cell)
