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
# # Model variants: GRU and stacked layers beside the paper's single-layer LSTM
# The class sensitivity maps (Patil et al. Eq. 5) of every configured model side by side, on the
# same held-out sequences; with accuracy, the agreement of the maps, how much of each class's
# sensitivity falls on the joints that carry its motion (synthetic data), and the hidden-unit
# numbers of the periods stage. Executed by papermill from the rule `notebook_variants`
# (config/variants.yaml); it only loads results and plots.

# %% tags=["parameters"]
# parameters
results = "results/synthetic"
archs = "lstm,gru,lstm2"
figures = "results/synthetic/figures/variants"
split = "test"

# %%
import json
import os

import numpy as np
from IPython.display import display

from skelvis import plots
from skelvis.datasets.store import SPLIT_NAMES, read_dataset
from skelvis.evaluate import read_metrics
from skelvis.periods import read_periods
from skelvis.plots import periods as pp
from skelvis.saliency import read_saliency
from skelvis.topology import get_topology

names = [a for a in archs.split(",") if a]
ds = read_dataset(os.path.join(results, "data.h5"), lazy=True)  # the poses are not drawn here
topo = get_topology(ds.topology)
code = {v: k for k, v in SPLIT_NAMES.items()}[split]
mask = ds.split == code
sal = {a: read_saliency(os.path.join(results, "saliency", f"{a}.h5"), keys=["class_map"]) for a in names}
met = {a: read_metrics(os.path.join(results, "model", a, "metrics.json")) for a in names}
per = {a: read_periods(os.path.join(results, "periods", f"{a}.h5")).summary for a in names}
class_joints = ds.extra_attrs.get("class_joints")
class_joints = json.loads(class_joints) if isinstance(class_joints, str) else (class_joints or {})

# %% [markdown]
# ## Class x joint sensitivity, side by side

# %%
cj = {a: pp.class_joint_map(sal[a]["class_map"], ds.length, ds.label, len(ds.classes), mask)
      for a in names}
fig = pp.variants_sensitivity_figure(
    cj, topo.joints, ds.classes,
    f"{ds.name}: class sensitivity per joint ({split} split, mean over each class's sequences)")
plots.save_figure(fig, figures, "06_sensitivity")

# %% [markdown]
# ## One sequence, side by side

# %%
n = int(np.flatnonzero(mask)[0])
T = int(ds.length[n])
fig = pp.variants_sequence_figure(
    {a: sal[a]["class_map"][n, :T] for a in names}, topo.joints,
    f"{ds.name}: class sensitivity of sequence {ds.sample_id[n]} ({ds.classes[int(ds.label[n])]}) per model")
plots.save_figure(fig, figures, "06_sequence")

# %% [markdown]
# ## The numbers

# %%
table = pp.variants_table(per, met)
table["agreement with " + names[0]] = [pp.rank_agreement(cj[a], cj[names[0]]) for a in names]
table["share on motion joints"] = [pp.ground_truth_share(cj[a], ds.classes, list(topo.joints), class_joints)
                                   for a in names]
plots.save_figure(pp.table_figure(table, f"{ds.name}: model variants"), figures, "06_summary")
display(table)
