"""Rule faithfulness_gather (config `shards` > 1): the faithfulness shards' sums -> faithfulness.json."""
import h5py
from skelvis.datasets.store import read_dataset_info
from skelvis.faithfulness import combine_shards, read_shard, write_faithfulness
from skelvis.rulelog import rule_logging
from skelvis.settings import SaliencyConfig
from skelvis.topology import get_topology

with rule_logging(snakemake) as log:
    p = snakemake.params
    cfg = SaliencyConfig.from_section(p.cfg, seed=p.seed, device=p.device)
    data, saliency = snakemake.input.data, snakemake.input.saliency
    info = read_dataset_info(data)
    res = combine_shards([read_shard(s) for s in snakemake.input.shards], info,
                         get_topology(info.topology).joints, cfg)
    d = res["deletion"]
    log.info("%d shards gathered; deletion AUC (%d of %d sequences): salient %.3f, random %.3f",
             len(snakemake.input.shards), d["n"], res["n"], d["auc_salient"], d["auc_random"])
    with h5py.File(saliency, "r") as f:
        mode = f.attrs.get("mode", "")
    write_faithfulness(res, snakemake.output.json, model=snakemake.input.model, data=data,
                       saliency=saliency, mode=mode)
