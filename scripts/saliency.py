"""Rule saliency: model + data -> saliency.h5 (class, predicted-class and hidden-unit maps; thin adapter)."""
from skelvis.datasets.store import read_dataset
from skelvis.models import load_model
from skelvis.rulelog import rule_logging
from skelvis.saliency import run_saliency, write_saliency
from skelvis.settings import SaliencyConfig

with rule_logging(snakemake) as log:
    cfg = SaliencyConfig.from_section(snakemake.params.cfg, device=snakemake.params.device)
    ds = read_dataset(snakemake.input.data)
    model = load_model(snakemake.input.model)
    log.info("device %s, mode %s, %d sequences x %d frames x %d joints, %d hidden units",
             cfg.device, cfg.mode, *ds.x.shape[:3], model.hidden_size)
    maps = run_saliency(model, ds, cfg, progress=True)
    log.info("maps for units %s", list(map(int, maps.units)))
    write_saliency(snakemake.output.saliency, maps, model=snakemake.input.model, data=snakemake.input.data,
                   normalize=bool(cfg.normalize), std_floor=float(cfg.std_floor))
