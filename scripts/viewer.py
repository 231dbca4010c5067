"""Rule viewer: data, model outputs (+ the optional stages' outputs) -> skelvis_{arch}.html."""
from skelvis.rulelog import rule_logging
from skelvis.settings import AttributionConfig, SaliencyConfig, ViewerConfig
from skelvis.viewer import write_viewer

OPTIONAL = ("saliency", "maximize", "faithfulness", "paths", "quality", "activations", "periods", "model", "benchmark")

with rule_logging(snakemake) as log:
    p = snakemake.params
    cfg = ViewerConfig.from_section(p.viewer)
    optional = {k: snakemake.input.get(k) for k in OPTIONAL}
    optional["attribution"] = AttributionConfig.from_section(p.attribution, seed=p.seed, device=p.device)
    optional["saliency_cfg"] = SaliencyConfig.from_section(p.saliency, seed=p.seed, device=p.device)
    summary = write_viewer(snakemake.output.html, snakemake.input.data, snakemake.input.metrics,
                           snakemake.input.predictions, cfg=cfg, model_name=snakemake.wildcards.arch, **optional)
    log.info("page %s: %.2f MB (data block %.2f MB, %.2f MB inflated), %d sequences, methods %s, "
             "%d hidden units, %d maximisation targets (%s)", summary["path"], summary["bytes"] / 1e6,
             summary["payload_bytes"] / 1e6, summary["blob_bytes"] / 1e6, summary["sequences"],
             summary["methods"], summary["units"], summary["maxruns"], ", ".join(summary["variants"]))
    for note in summary["notes"]:
        log.info("note: %s", note)
