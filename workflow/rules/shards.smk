# Shards (config `shards`, Snakemake scattergather): the per-sequence stages evaluate, saliency,
# faithfulness and activations run as one job per contiguous row range of data.h5 (scatter item
# "i-of-n", rows from skelvis.datasets.store.shard_rows); the gather rules write the same
# files a one-shard run writes (rules/gather.smk). With one shard (the default) the stage rules write
# those files themselves and no gather rule exists, so the DAG is the unsharded one. Helpers only
# here (snakemake --lint); included right after common.smk, before the stage files use them.
from skelvis.datasets.store import sequence_count, shard_rows


scattergather:
    shards=config["shards"],


# the effective count: config `shards`, or `--set-scatter shards=N` on the command line
SHARDS = len(scatter.shards("{scatteritem}"))
SHARDED = SHARDS > 1


wildcard_constraints:
    scatteritem=r"\d+-of-\d+",


def shard_output(path, rule):
    """`path` with one shard; else the scatter item's file results/{dataset}/shards/<rule>/{arch}_{scatteritem}.h5."""
    return f"results/{{dataset}}/shards/{rule}/{{arch}}_{{scatteritem}}.h5" if SHARDED else path


def shard_log(path):
    """A log or benchmark path, per scatter item when sharded (`<name>_{scatteritem}.<ext>`)."""
    if not SHARDED:
        return path
    stem, dot, ext = path.rpartition(".")
    return f"{stem}_{{scatteritem}}.{ext}"


def shard_inputs(rule):
    """Every scatter item's file of `rule`, in row order (the gather's input)."""
    return gather.shards(f"results/{{{{dataset}}}}/shards/{rule}/{{{{arch}}}}_{{scatteritem}}.h5")


def shard_data_file(wildcards):
    """data_file; when sharded and data.h5 exists, more shards than sequences stops the run before
    any job starts, with one line naming both numbers (the shard jobs check it again)."""
    path = data_file(wildcards)
    if SHARDED and os.path.exists(path):
        shard_rows(sequence_count(path), f"1-of-{SHARDS}", path)
    return path
