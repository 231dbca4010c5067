"""Rule activations: data.h5 + model -> activations/{arch}.h5 (hidden states of every sample)."""
from skelvis.activations import compute_activations, write_activations
from skelvis.datasets.store import read_dataset
from skelvis.models import load_model, resolve_device
from skelvis.rulelog import rule_logging

with rule_logging(snakemake) as log:
    ds = read_dataset(snakemake.input.data)
    model = load_model(snakemake.input.model)
    device = resolve_device(snakemake.params.device)
    out = compute_activations(model, ds, layer=snakemake.params.layer,
                              batch_size=snakemake.params.batch_size, device=device)
    log.info("%s %d layer(s): stored layer %d, hidden %s on %s", model.cell, model.num_layers, out["layer"],
             out["hidden"].shape, device)
    write_activations(snakemake.output.activations, ds, out["hidden"], out["predicted"], out["layer"],
                      model=snakemake.input.model, data=snakemake.input.data,
                      num_layers=model.num_layers, cell=model.cell)
