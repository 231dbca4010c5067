"""Rule saliency: model + data -> saliency.h5 (class, predicted-class and hidden-unit maps; thin adapter)."""
import torch

from skelvis.datasets.store import read_dataset
from skelvis.models import load_model, resolve_device
from skelvis.rulelog import rule_logging
from skelvis.saliency import saliency_maps, top_units, write_saliency

with rule_logging(snakemake) as log:
    p = snakemake.params
    ds = read_dataset(snakemake.input.data)
    device = resolve_device(p.device)
    model = load_model(snakemake.input.model).to(device)
    units = list(p.cfg["units"]) or top_units(model, p.cfg["units_per_class"])
    log.info("device %s, mode %s, %d sequences x %d frames x %d joints, %d hidden units, maps for units %s",
             device, p.cfg["mode"], *ds.x.shape[:3], model.hidden_size, list(map(int, units)))
    maps = saliency_maps(model, torch.from_numpy(ds.x), torch.from_numpy(ds.length),
                         torch.from_numpy(ds.label), units=units, mode=p.cfg["mode"],
                         normalize=p.cfg["normalize"], std_floor=p.cfg["std_floor"],
                         chunk_size=p.cfg["chunk_size"] or None, progress=True)
    write_saliency(snakemake.output.saliency, maps, model=snakemake.input.model, data=snakemake.input.data,
                   normalize=bool(p.cfg["normalize"]), std_floor=float(p.cfg["std_floor"]))
