"""Rule maximize: model + data -> maximize/{arch}.h5 (thin adapter; logic in skelvis.maximize)."""
import numpy as np
from skelvis.datasets.store import read_dataset
from skelvis.maximize import run_maximization, write_maximization
from skelvis.models import load_model
from skelvis.rulelog import rule_logging
from skelvis.runtime import seed_everything
from skelvis.settings import MaximizeConfig

with rule_logging(snakemake) as log:
    cfg = MaximizeConfig.from_section(snakemake.params.maximize, seed=snakemake.params.seed,
                                      device=snakemake.params.device)
    seed_everything(cfg.seed)
    ds = read_dataset(snakemake.input.data, lazy=True)  # poses read on access: the starts and blocks
    model = load_model(snakemake.input.model)
    targets, idx, con, unc, cs = run_maximization(model, ds, cfg)
    if cs is not None:
        kinds, counts = np.unique(cs.inequality_kinds().astype(str), return_counts=True)
        log.info("constraint set %r: %d bones, inequalities %s", cfg.constraints, len(cs.bones),
                 dict(zip(kinds.tolist(), counts.tolist())))
    for n, t in enumerate(targets):
        log.info("%-16s %-14s response %8.3f -> %8.3f (unconstrained %8.3f); max bone error %.1e, "
                 "max angle violation %.3f deg (unconstrained %.1e, %.1f deg)", t.label, ds.sample_id[idx[n]],
                 con.response[n, 0], con.response[n, -1], unc.response[n, -1], con.max_bone_error[n].max(),
                 con.max_angle_violation_deg[n].max(), unc.max_bone_error[n].max(),
                 unc.max_angle_violation_deg[n].max())
        if cs is not None and (cs.support_joints or len(cs.capsule_pairs)):
            log.info("%-16s floating %.1e, interpenetration %.1e, max acceleration %.3f (bound %.3f)", t.label,
                     con.max_support_violation[n].max(), con.max_interpenetration[n].max(),
                     con.max_acceleration[n, 1:].max(), con.acceleration_bound[n])
    write_maximization(snakemake.output[0], ds, targets, idx, con, unc, cs, model=snakemake.input.model,
                       data=snakemake.input.data, params=cfg)
