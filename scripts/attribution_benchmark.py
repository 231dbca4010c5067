"""Rule attribution_benchmark: data + model (+ control model and its cue-free data, + the second
seed's model, where the workflow has them) -> attribution/{arch}_benchmark.csv and .h5 (thin adapter)."""
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
    ds = read_dataset(snakemake.input.data, lazy=True)  # poses read on access: the scored subset only
    topo = get_topology(ds.topology)
    device = resolve_device(cfg.device)
    model = load_model(snakemake.input.model).to(device)
    optional = {k: snakemake.input.get(k) for k in ("control", "control_data", "seed_model")}
    control = load_model(optional["control"]).to(device) if optional["control"] else None
    twin = read_dataset(optional["control_data"], lazy=True) if optional["control_data"] else None
    seed_model = load_model(optional["seed_model"]).to(device) if optional["seed_model"] else None
    log.info("optional inputs: %s", {k: v for k, v in optional.items() if v})
    result = run_benchmark(model, ds, topo.joints, topo.parents(), cfg, saliency_normalize=sal.normalize,
                           saliency_std_floor=sal.std_floor, log=log, control=control, twin=twin,
                           seed_model=seed_model, groups=topo.limb_groups)
    log.info("attribution benchmark (%d sequences of %s):\n%s", len(result.rows), cfg.split,
             wide_table(result.table, with_interval=False).round(3).to_string())
    write_benchmark(snakemake.output.csv, snakemake.output.h5, result, model=snakemake.input.model,
                    data=snakemake.input.data, config=dict(p.cfg), saliency_normalize=sal.normalize,
                    **{k: v for k, v in optional.items() if v})
