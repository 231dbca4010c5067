"""Rule faithfulness: saliency maps -> ground-truth mass share and deletion curves (thin adapter).

Reads data.h5 and saliency.h5 in chunks (skelvis.faithfulness.score_files): bounded memory."""
import h5py
from skelvis.datasets.store import read_dataset_info
from skelvis.faithfulness import score_files, write_faithfulness
from skelvis.models import load_model, resolve_device
from skelvis.rulelog import rule_logging
from skelvis.settings import SaliencyConfig
from skelvis.topology import get_topology

with rule_logging(snakemake) as log:
    p = snakemake.params
    cfg = SaliencyConfig.from_section(p.cfg, seed=p.seed, device=p.device)
    info = read_dataset_info(snakemake.input.data)
    model = load_model(snakemake.input.model).to(resolve_device(cfg.device))
    res = score_files(model, snakemake.input.data, snakemake.input.saliency, get_topology(info.topology).joints,
                      cfg, info=info)
    ms = res["mass_share"]
    if ms:
        log.info("mass share on ground-truth joints: %.3f (chance %.3f)", ms["mean_share"], ms["mean_chance"])
    else:
        log.info("mass share skipped: %s", res.get("mass_share_skipped"))
    d = res["deletion"]
    log.info("deletion AUC (%d of %d sequences): salient %.3f, random %.3f", d["n"], res["n"],
             d["auc_salient"], d["auc_random"])
    with h5py.File(snakemake.input.saliency, "r") as f:
        mode = f.attrs.get("mode", "")
    write_faithfulness(res, snakemake.output.json, model=snakemake.input.model, data=snakemake.input.data,
                       saliency=snakemake.input.saliency, mode=mode)
