"""Rule fetch: download one URL into resources/{dataset}/download/ with retries and a sha256 check."""
from skelvis.datasets.sources import fetch_http
from skelvis.rulelog import rule_logging

with rule_logging(snakemake) as log:
    url, sha256, key = snakemake.params.entry
    log.info("fetching %s", url)
    fetch_http(url, snakemake.output[0], sha256, retries=int(snakemake.params.retries), key=key)
