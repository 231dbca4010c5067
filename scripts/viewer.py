"""Rule viewer: data, model outputs (+ saliency, maximize when present) -> skelvis_{arch}.html."""
from skelvis.rulelog import rule_logging
from skelvis.settings import ViewerConfig
from skelvis.viewer import write_viewer

with rule_logging(snakemake) as log:
    cfg = ViewerConfig.from_section(snakemake.params.viewer)
    summary = write_viewer(snakemake.output.html, snakemake.input.data, snakemake.input.metrics,
                           snakemake.input.predictions,
                           saliency=snakemake.input.get("saliency"), maximize=snakemake.input.get("maximize"),
                           cfg=cfg, model_name=snakemake.wildcards.arch)
    log.info("page %s: %.2f MB (data %.2f MB), %d sequences, %d hidden units, %d maximisation runs",
             summary["path"], summary["bytes"] / 1e6, summary["payload_bytes"] / 1e6,
             summary["sequences"], summary["units"], summary["maxruns"])
    for note in summary["notes"]:
        log.info("note: %s", note)
