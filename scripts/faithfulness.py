"""Rule faithfulness: saliency maps -> ground-truth mass share and deletion curves (thin adapter)."""
from skelvis.datasets.store import read_dataset
from skelvis.faithfulness import evaluate_faithfulness, write_faithfulness
from skelvis.models import load_model, resolve_device
from skelvis.rulelog import rule_logging
from skelvis.saliency import read_saliency
from skelvis.settings import SaliencyConfig
from skelvis.topology import get_topology

with rule_logging(snakemake) as log:
    p = snakemake.params
    cfg = SaliencyConfig.from_section(p.cfg, seed=p.seed, device=p.device)
    ds = read_dataset(snakemake.input.data)
    sal = read_saliency(snakemake.input.saliency, data=ds, unit_rows=[])
    model = load_model(snakemake.input.model).to(resolve_device(cfg.device))
    res = evaluate_faithfulness(model, ds, sal["class_map"], get_topology(ds.topology).joints, cfg)
    ms = res["mass_share"]
    if ms:
        log.info("mass share on ground-truth joints: %.3f (chance %.3f)", ms["mean_share"], ms["mean_chance"])
    else:
        log.info("mass share skipped: %s", res.get("mass_share_skipped"))
    d = res["deletion"]
    log.info("deletion AUC: salient %.3f, random %.3f", d["auc_salient"], d["auc_random"])
    write_faithfulness(res, snakemake.output.json, model=snakemake.input.model, data=snakemake.input.data,
                       saliency=snakemake.input.saliency, mode=sal["attrs"].get("mode", ""))
