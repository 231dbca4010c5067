"""Rule viewer: data, model outputs (+ the optional stages' outputs) -> skelvis_{arch}.html."""
from skelvis.rulelog import rule_logging
from skelvis.settings import ViewerConfig
from skelvis.viewer import write_viewer

OPTIONAL = ("saliency", "maximize", "faithfulness", "paths", "quality", "activations", "periods")

with rule_logging(snakemake) as log:
    cfg = ViewerConfig.from_section(snakemake.params.viewer)
    optional = {k: snakemake.input.get(k) for k in OPTIONAL}
    summary = write_viewer(snakemake.output.html, snakemake.input.data, snakemake.input.metrics,
                           snakemake.input.predictions, cfg=cfg, model_name=snakemake.wildcards.arch, **optional)
    log.info("page %s: %.2f MB (data block %.2f MB, %.2f MB inflated), %d sequences, methods %s, "
             "%d hidden units, %d maximisation targets (%s)", summary["path"], summary["bytes"] / 1e6,
             summary["payload_bytes"] / 1e6, summary["blob_bytes"] / 1e6, summary["sequences"],
             summary["methods"], summary["units"], summary["maxruns"], ", ".join(summary["variants"]))
    for note in summary["notes"]:
        log.info("note: %s", note)
