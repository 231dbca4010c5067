"""Rule periods: data.h5 + model -> periods/{arch}.h5 (thin adapter over skelvis.periods).

Analyses a seeded subset of at most periods.max_sequences sequences read from data.h5
(skelvis.periods.analyse_periods_file): memory stops growing with the data."""
from skelvis.models import load_model
from skelvis.periods import analyse_periods_file, write_periods
from skelvis.rulelog import rule_logging
from skelvis.settings import PeriodsConfig

with rule_logging(snakemake) as log:
    cfg = PeriodsConfig.from_section(snakemake.params.periods, seed=snakemake.params.seed)
    model = load_model(snakemake.input.model)
    an = analyse_periods_file(model, snakemake.input.data, cfg, progress=True)
    for k, v in an.summary.items():
        log.info("%s: %s", k, v)
    write_periods(an, snakemake.output.periods, model=snakemake.input.model, data=snakemake.input.data)
