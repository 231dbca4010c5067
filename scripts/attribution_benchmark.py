"""Rule attribution_benchmark: data + model -> attribution/{arch}_benchmark.csv and .h5 (thin adapter)."""
from skelvis.attribution.benchmark import run_benchmark, write_benchmark
from skelvis.datasets.store import read_dataset
from skelvis.models import load_model, resolve_device
from skelvis.plots.attribution import wide_table
from skelvis.rulelog import rule_logging
from skelvis.settings import AttributionConfig, SaliencyConfig
from skelvis.topology import get_topology

with rule_logging(snakemake) as log:
    p = snakemake.params
    cfg = AttributionConfig.from_section(p.cfg, seed=p.seed, device=p.device)
    sal = SaliencyConfig.from_section(p.saliency, seed=p.seed, device=p.device)
    ds = read_dataset(snakemake.input.data)
    topo = get_topology(ds.topology)
    model = load_model(snakemake.input.model).to(resolve_device(cfg.device))
    result = run_benchmark(model, ds, topo.joints, topo.parents(), cfg, saliency_normalize=sal.normalize,
                           saliency_std_floor=sal.std_floor, log=log)
    log.info("attribution benchmark (%d sequences of %s):\n%s", len(result.rows), cfg.split,
             wide_table(result.table, with_interval=False).round(3).to_string())
    write_benchmark(snakemake.output.csv, snakemake.output.h5, result, model=snakemake.input.model,
                    data=snakemake.input.data, config=dict(p.cfg), saliency_normalize=sal.normalize)
