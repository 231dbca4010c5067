"""Rule faithfulness: saliency maps -> ground-truth mass share and deletion curves (thin adapter).

Reads data.h5 and saliency.h5 in chunks (skelvis.faithfulness.score_files): bounded memory.
With config `shards` > 1 it is one shard (wildcard scatteritem) and writes that shard's sums
(skelvis.faithfulness.score_shard); rule faithfulness_gather adds them up."""
import h5py
from skelvis.datasets.store import read_dataset_info, shard_rows
from skelvis.faithfulness import score_files, score_shard, write_faithfulness, write_shard
from skelvis.models import load_model, resolve_device
from skelvis.rulelog import rule_logging
from skelvis.settings import SaliencyConfig
from skelvis.topology import get_topology

with rule_logging(snakemake) as log:
    p = snakemake.params
    cfg = SaliencyConfig.from_section(p.cfg, seed=p.seed, device=p.device)
    data, saliency = snakemake.input.data, snakemake.input.saliency
    info = read_dataset_info(data)
    model = load_model(snakemake.input.model).to(resolve_device(cfg.device))
    item = getattr(snakemake.wildcards, "scatteritem", None)
    if item:
        rows = shard_rows(info.shape[0], item, data)
        part = score_shard(model, data, saliency, cfg, rows, info=info)
        write_shard(part, snakemake.output.json)
        log.info("shard %s: sequences %d to %d, %d scored, %d in the deletion subset", item, rows.start,
                 rows.stop, len(part["rows"]), len(part["deletion_rows"]))
    else:
        res = score_files(model, data, saliency, get_topology(info.topology).joints, cfg, info=info)
        ms = res["mass_share"]
        if ms:
            log.info("mass share on ground-truth joints: %.3f (chance %.3f)", ms["mean_share"], ms["mean_chance"])
        else:
            log.info("mass share skipped: %s", res.get("mass_share_skipped"))
        d = res["deletion"]
        log.info("deletion AUC (%d of %d sequences): salient %.3f, random %.3f", d["n"], res["n"],
                 d["auc_salient"], d["auc_random"])
        with h5py.File(saliency, "r") as f:
            mode = f.attrs.get("mode", "")
        write_faithfulness(res, snakemake.output.json, model=snakemake.input.model, data=data,
                           saliency=saliency, mode=mode)
