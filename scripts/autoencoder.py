"""Rule autoencoder: activations -> {arch}_{k}d.pt, _paths.h5, _projection_quality.json, _history.csv."""
from skelvis import autoencoder as ae
from skelvis.activations import iter_activations, read_activations
from skelvis.evaluate import write_history
from skelvis.projection import fit_pca, projection_quality
from skelvis.rulelog import rule_logging
from skelvis.settings import AutoencoderConfig

with rule_logging(snakemake) as log:
    cfg = AutoencoderConfig.from_section(snakemake.params.autoencoder, seed=snakemake.params.seed,
                                         device=snakemake.params.device)
    k = int(snakemake.wildcards.k)
    # activations.h5 is read in chunks (two passes for the training vectors, one for the paths):
    # memory holds one chunk, the training vectors (max_vectors) and the codes (N, T, k)
    path = snakemake.input.activations
    acts = read_activations(path, hidden=False)
    length, split = acts["length"], acts["split"]

    def chunks():
        return iter_activations(path, 512)

    vectors, counts = ae.training_vectors_streamed(chunks, length, split == 0, cfg.redundant_threshold,
                                                   cfg.redundant_scope, cfg.max_vectors, cfg.seed)
    log.info("training vectors: %s", counts)
    model, history, summary = ae.train_autoencoder(vectors, cfg, k, checkpoint=snakemake.params.checkpoint)
    log.info("autoencoder: %s", summary)
    codes, last_hidden = ae.paths_streamed(model, chunks, length)
    pca = fit_pca(vectors, k, cfg.seed)
    quality = projection_quality(vectors, last_hidden, acts["label"],
                                 {"autoencoder": lambda x: ae.encode(model, x), "pca": pca.transform},
                                 n_neighbors=cfg.quality_neighbors, max_points=cfg.quality_max_points,
                                 seed=cfg.seed)
    log.info("projection quality: %s", quality)
    doc = {"k": k, "quality": quality, "autoencoder": summary, "training_vectors": counts,
           "pca_explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_],
           "neighbors": cfg.quality_neighbors, "activations": snakemake.input.activations,
           "model": acts["attrs"].get("model", ""), "data": acts["attrs"].get("data", "")}
    write_history(snakemake.output.history, history)
    ae.write_quality(snakemake.output.quality, doc)
    write_paths_attrs = {"activations": snakemake.input.activations, "autoencoder": snakemake.output.model}
    ae.write_paths(snakemake.output.paths, codes, acts, model=acts["attrs"].get("model", ""),
                   data=acts["attrs"].get("data", ""), extra_attrs=write_paths_attrs)
    ae.save_autoencoder(model, snakemake.output.model,
                        extra={"activations": snakemake.input.activations, "summary": summary,
                               "training_vectors": counts})
