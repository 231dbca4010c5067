# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Hidden-state maps
# Every time step's hidden state projected into 2-D and 3-D by a denoising autoencoder, as in
# Tempczyk and Bartołd, "Visualizing LSTM networks, part I", and the projection's quality measured
# against PCA. Executed by papermill from the rule `notebook_hidden_states`; it only loads results and plots.

# %% tags=["parameters"]
# parameters
data = "results/synthetic/data.h5"
model = "results/synthetic/model/lstm.pt"
confusion = "results/synthetic/model/lstm/confusion.csv"
activations = "results/synthetic/activations/lstm.h5"
paths2 = "results/synthetic/autoencoder/lstm_2d_paths.h5"
paths3 = "results/synthetic/autoencoder/lstm_3d_paths.h5"
quality2 = "results/synthetic/autoencoder/lstm_2d_projection_quality.json"
quality3 = "results/synthetic/autoencoder/lstm_3d_projection_quality.json"
figures = "results/synthetic/figures/lstm"
pairs_from_confusion = 2
pairs_from_proximity = 2
body_part_ratio = 0.5
animate_sample = ""
gif_fps = 8
max_sequences = 2000

# %%
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from IPython.display import display

from skelvis import plots
from skelvis.activations import read_activations
from skelvis.autoencoder import (
    body_part_partition,
    last_codes,
    limb_variability_file,
    proximity_pairs,
    read_paths,
    read_quality,
    shown_rows,
)
from skelvis.datasets.store import iter_dataset, read_dataset_info
from skelvis.evaluate import confusable_pairs, read_confusion
from skelvis.models import load_model
from skelvis.plots import hidden_states as hs
from skelvis.topology import get_topology

# Only what the figures show is read: every sequence's labels and lengths, the code-space paths of
# at most `max_sequences` sequences (a seeded subset, with the animated one; all in the default run)
# and the poses of the animated sequence; the body-part partition streams data.h5.
info = read_dataset_info(data)
acts = read_activations(activations, hidden=False)
if animate_sample:
    hits = np.flatnonzero(acts["sample_id"] == animate_sample)
    if not len(hits):
        raise ValueError(f"config key 'autoencoder.animate_sample': no sample {animate_sample!r} in {activations}")
    i = int(hits[0])
else:
    test = np.flatnonzero(acts["split"] == 2)
    i = int(test[0]) if len(test) else 0
shown = shown_rows(len(acts["length"]), max_sequences, include=[i])
P2, P3 = read_paths(paths2, rows=shown), read_paths(paths3, rows=shown)
q = {2: read_quality(quality2), 3: read_quality(quality3)}
classes = P2["classes"]
if len(shown) < len(acts["length"]):
    print(f"paths of {len(shown)} of {len(acts['length'])} sequences drawn (notebooks.max_sequences = {max_sequences})")

# %% [markdown]
# ## Projection quality (autoencoder vs PCA)

# %%
rows = []
for k, doc in q.items():
    for method in ("autoencoder", "pca"):
        rows.append({"k": k, "method": method, **doc["quality"][method]})
table = pd.DataFrame(rows)
print(f"autoencoder training: 2-D {q[2]['autoencoder']['train_seconds']:.1f} s, 3-D {q[3]['autoencoder']['train_seconds']:.1f} s;"
      f" held-out MSE 2-D {q[2]['autoencoder']['validation_mse']:.4f} vs mean vector {q[2]['autoencoder']['mean_vector_mse']:.4f}")
plots.save_figure(hs.quality_figure({k: d["quality"] for k, d in q.items()}), figures, "04_quality")
display(table)

# %% [markdown]
# ## All training paths (blog Fig. 3) and a large version

# %%
plots.save_figure(hs.paths_figure(P2), figures, "04_paths")
plots.save_figure(hs.paths_figure(P2, figsize=(20, 16), fontsize=15, point_size=9), figures, "04_paths_large", dpi=150)

# %% [markdown]
# ## Last-step codes (Fig. 4) and the 3-D projection (Fig. 5)

# %%
plots.save_figure(hs.last_step_figure(P2), figures, "04_last_step")
plots.save_figure(hs.paths_3d_figure(P3), figures, "04_paths_3d")

# %% [markdown]
# ## Paths by moving body parts (Fig. 6)

# %%
topo = get_topology(info.topology)
group_names, class_group = body_part_partition(None, info.length, info.label, len(classes), topo.limb_groups,
                                               ratio=body_part_ratio,
                                               variability=limb_variability_file(data, topo.limb_groups))
print({classes[c]: group_names[g] for c, g in enumerate(class_group)})
plots.save_figure(hs.body_part_figure(P2, group_names, class_group), figures, "04_body_parts")

# %% [markdown]
# ## Confusable pairs (Figs. 7-10): from the confusion matrix and from code-space proximity

# %%
cm = read_confusion(confusion).values
pairs = [(a, b, f"{n} confusion{'s' if n > 1 else ''}") for a, b, n in confusable_pairs(cm, top=pairs_from_confusion) if n > 0]
ends = last_codes(P2["path"], P2["length"])
pairs += [(a, b, f"closest last-step codes, d = {d:.2f}")
          for a, b, d in proximity_pairs(ends, P2["label"], len(classes), top=pairs_from_proximity,
                                         exclude=[(a, b) for a, b, _ in pairs])]
print([(classes[a], classes[b], why) for a, b, why in pairs])
plots.save_figure(hs.pairs_figure(P2, pairs), figures, "04_pairs")

# %% [markdown]
# ## Misclassified sequences on train, validation and test (Figs. 11-13)

# %%
for split in ("train", "validation", "test"):
    plots.save_figure(hs.misclassified_figure(P2, split), figures, f"04_misclassified_{split}")

# %% [markdown]
# ## The codes developing while a sequence is classified (Fig. 14)

# %%
net = load_model(model)
L = int(acts["length"][i])
((_, one),) = iter_dataset(data, 1, rows=[i], info=info)
with torch.no_grad():  # prediction from the state so far: the classifier on the top layer's h_t
    x = torch.from_numpy(one.x).flatten(2)
    top = net.hidden_states(x, torch.tensor([L]))[0, :L]
    prob = torch.softmax(net.classifier(top), -1).numpy()
n = hs.animate_classification(P2, int(np.searchsorted(shown, i)), prob, Path(figures) / "04_animation.gif",
                              fps=gif_fps)
print(f"animated {acts['sample_id'][i]} ({classes[acts['label'][i]]}), {n} frames")
