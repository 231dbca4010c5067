"""Rule maximize_comparison: model + data -> maximize/{arch}_comparison.csv and .h5 (thin adapter;
logic in skelvis.maximize.compare_variants)."""
from skelvis.datasets.store import read_dataset
from skelvis.maximize import compare_variants, write_comparison
from skelvis.models import load_model
from skelvis.rulelog import rule_logging
from skelvis.runtime import seed_everything
from skelvis.settings import MaximizeConfig

with rule_logging(snakemake) as log:
    cfg = MaximizeConfig.from_section(snakemake.params.maximize, seed=snakemake.params.seed,
                                      device=snakemake.params.device)
    seed_everything(cfg.seed)
    ds = read_dataset(snakemake.input.data, lazy=True)  # poses read on access: the scored subset only
    model = load_model(snakemake.input.model)
    rows, runs, targets, idx = compare_variants(model, ds, cfg)
    log.info("penalty weights tried: %s", list(cfg.penalty_weights))
    write_comparison(snakemake.output.table, rows, runs, ds, targets, idx, model=snakemake.input.model,
                     data=snakemake.input.data)
