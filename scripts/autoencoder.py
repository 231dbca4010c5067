"""Rule autoencoder: activations -> {arch}_{k}d.pt, _paths.h5, _projection_quality.json, _history.csv."""
import json

import numpy as np
import pandas as pd

from skelvis import autoencoder as ae
from skelvis.activations import read_activations
from skelvis.datasets.store import atomic_path
from skelvis.models import resolve_device
from skelvis.projection import fit_pca, projection_quality
from skelvis.rulelog import rule_logging

with rule_logging(snakemake) as log:
    p = dict(snakemake.params.autoencoder)
    k = int(snakemake.wildcards.k)
    acts = read_activations(snakemake.input.activations)
    hidden, length, split = acts["hidden"], acts["length"], acts["split"]
    vectors, counts = ae.training_vectors(hidden, length, split == 0, p["redundant_threshold"],
                                          p["redundant_scope"], p["max_vectors"], snakemake.params.seed)
    log.info("training vectors: %s", counts)
    cfg = ae.AutoencoderConfig(k=k, hidden_layers=tuple(p["hidden_layers"]), noise=p["noise"], lr=p["lr"],
                               batch_size=p["batch_size"], max_epochs=p["max_epochs"], patience=p["patience"],
                               validation_fraction=p["validation_fraction"], seed=snakemake.params.seed,
                               device=str(resolve_device(snakemake.params.device)))
    model, history, summary = ae.train_autoencoder(vectors, cfg, checkpoint=snakemake.params.checkpoint)
    log.info("autoencoder: %s", summary)
    codes = ae.extract_paths(model, hidden, length)
    last = np.arange(len(length)), length - 1
    pca = fit_pca(vectors, k, snakemake.params.seed)
    quality = projection_quality(vectors, hidden[last], acts["label"],
                                 {"autoencoder": lambda x: ae.encode(model, x), "pca": pca.transform},
                                 n_neighbors=p["quality_neighbors"], max_points=p["quality_max_points"],
                                 seed=snakemake.params.seed)
    log.info("projection quality: %s", quality)
    doc = {"k": k, "quality": quality, "autoencoder": summary, "training_vectors": counts,
           "pca_explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_],
           "neighbors": p["quality_neighbors"], "activations": snakemake.input.activations,
           "model": acts["attrs"].get("model", ""), "data": acts["attrs"].get("data", "")}
    with atomic_path(snakemake.output.history) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    with atomic_path(snakemake.output.quality) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))
    write_paths_attrs = {"activations": snakemake.input.activations, "autoencoder": snakemake.output.model}
    ae.write_paths(snakemake.output.paths, codes, acts, model=acts["attrs"].get("model", ""),
                   data=acts["attrs"].get("data", ""), extra_attrs=write_paths_attrs)
    ae.save_autoencoder(model, snakemake.output.model,
                        extra={"activations": snakemake.input.activations, "summary": summary,
                               "training_vectors": counts})
