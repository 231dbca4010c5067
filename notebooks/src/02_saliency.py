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
# # Joint sensitivity (Patil et al., §3.1, Eq. 1-5)
# Which joints, at which moments, a class label or a hidden unit is sensitive to: the paper's
# Fig. 4 (*throw* and *kick*), Fig. 6 (two easily confused classes), joint x time heatmaps per class
# and per hidden unit, and how faithful the maps are. Executed by papermill from the rule
# `notebook_saliency`; it only loads results and plots.

# %% tags=["parameters"]
# parameters
data = "results/synthetic/data.h5"
model = "results/synthetic/model/lstm.pt"
saliency = "results/synthetic/saliency/lstm.h5"
faithfulness = "results/synthetic/saliency/lstm_faithfulness.json"
predictions = "results/synthetic/model/lstm/predictions.h5"
confusion = "results/synthetic/model/lstm/confusion.csv"
shortcut = "results/synthetic/saliency/lstm_shortcut.json"
figures = "results/synthetic/figures/lstm"
fig4_classes = "throw,kick"
fig6_classes = "mopping,sweeping"
early = 0.25
late = 0.7
n_units = 6

# %%
import numpy as np
from IPython.display import display

from skelvis import plots
from skelvis.case_study import case_study_classes, named_pair
from skelvis.datasets.store import read_dataset
from skelvis.evaluate import read_confusion, read_predictions
from skelvis.faithfulness import read_faithfulness
from skelvis.models import load_model
from skelvis.plots import saliency as sp
from skelvis.saliency import LazyMaps, read_saliency
from skelvis.shortcut import read_shortcut
from skelvis.topology import get_topology

ds = read_dataset(data, lazy=True)  # poses read on access: the figures show a few sequences
net = load_model(model)
# per-sequence class maps read on access (the figures draw a few sequences); the per-class means
# over every sequence come from the file, and the unit maps of the sequences it kept
sal = read_saliency(saliency, keys=["unit_maps", "units", "unit_map_index", "class_map_mean", "class_count"])
faith = read_faithfulness(faithfulness)
pred = read_predictions(predictions)
cm = read_confusion(confusion)
joints = get_topology(ds.topology).joints
mode = sal["attrs"]["mode"]
cmap_ = LazyMaps(saliency, "class_map")
print(f"mode {mode}; class_map {cmap_.shape}, unit_maps {sal['unit_maps'].shape}, units {list(sal['units'])}")

# %% [markdown]
# ## Fig. 4: an early frame of *throw*, an early and a late frame of *kick*
# Joints coloured by the true class's sensitivity map at that frame (darker = more sensitive).
# Classes by name (`fig4_classes`); one the data lacks is replaced by the most confused class, then
# the least confused one (skelvis.case_study), and the title says so.

# %%
(ca, cb), why = case_study_classes(ds.classes, [c.strip() for c in fig4_classes.split(",")], cm.values)
names = [ds.classes[ca], ds.classes[cb]]
print(f"Fig. 4 classes: {names}" + (f" ({why})" if why else ""))
ia = sp.pick_sample(ds.label, pred["predicted"], ds.split, ca)
ib = sp.pick_sample(ds.label, pred["predicted"], ds.split, cb)
frame = lambda i, f: round(f * (ds.length[i] - 1))
panels = [(ia, frame(ia, early), f"{names[0]}, early frame t={frame(ia, early)}"),
          (ib, frame(ib, early), f"{names[1]}, early frame t={frame(ib, early)}"),
          (ib, frame(ib, late), f"{names[1]}, late frame t={frame(ib, late)}")]
fig = sp.skeleton_maps_figure(ds, cmap_, panels, title=f"{ds.name}: sensitivity to the true class ({mode} mode)"
                              + (f"\n{why}" if why else ""))
plots.save_figure(fig, figures, "02_throw_kick")

# %% [markdown]
# ## Fig. 6: two easily confused classes
# The paper's pair by name (`fig6_classes`) when the data has both, else the most confused pair.

# %%
named = named_pair(ds.classes, [c.strip() for c in fig6_classes.split(",")])
p_ = pred["predicted"]
if named:  # the paper's pair by name
    a, b = named
    count, why = int(cm.values[a, b] + cm.values[b, a]), ""
else:      # the rule: the pair most often confused
    a, b, count = sp.confused_pair(cm.values, pred["probability"], ds.label)
    why = f"{' and '.join(repr(c) for c in fig6_classes.split(','))} are not both in this dataset: the most confused pair instead"
print(f"Fig. 6 pair: {ds.classes[a]}, {ds.classes[b]}" + (f" ({why})" if why else ""))


# each strip shows a sequence of its class that was given the other class where there is one
# (held-out first), else a correctly classified one
def confused_or_typical(c, other):
    for cond in ((ds.label == c) & (p_ == other) & (ds.split != 0), (ds.label == c) & (p_ == other)):
        if cond.any():
            return int(np.flatnonzero(cond)[0])
    return sp.pick_sample(ds.label, p_, ds.split, c)


confused = sp.pair_confusions(ds.label, p_, ds.split, a, b)
print(f"confused sequences: {confused}")
note = "\n".join(t for t in (why, f"confused sequences: {confused}") if t)
fig = sp.confused_pair_figure(ds, cmap_, a, b, confused_or_typical(a, b), confused_or_typical(b, a), count,
                              note=note, predicted=p_)
plots.save_figure(fig, figures, "02_confused_pair")

# %% [markdown]
# ## Joint x time sensitivity per class

# %%
fig = sp.class_heatmaps_figure(sal["class_map_mean"], sal["class_count"], ds.classes, joints)
plots.save_figure(fig, figures, "02_class_heatmaps")

# %% [markdown]
# ## Hidden units

# %%
W = net.classifier.weight.detach().numpy()
kept = sal["unit_map_index"]  # the sequences whose unit maps were kept (saliency.keep_unit_maps; default all)
fig = sp.unit_maps_figure(sal["unit_maps"], sal["units"], ds.label[kept], ds.length[kept], ds.classes, joints, W,
                          n_units=n_units)
plots.save_figure(fig, figures, "02_unit_maps")

# %% [markdown]
# ## Faithfulness
# Share of the sensitivity mass on each class's ground-truth joints (synthetic data only), and the
# deletion curve: the true class's probability as the most salient joints are frozen, against random joints.

# %%
fig = sp.faithfulness_figure(faith, f"{ds.name}: faithfulness of the {mode} sensitivity maps")
plots.save_figure(fig, figures, "02_faithfulness")
sp.faithfulness_table(faith).round(3)
# %% [markdown]
# ## The planted shortcut
# The synthetic data's training sequences of one class mostly start with the left hand raised (a cue
# that is no part of the action; held-out data lack the correlation). Sensitivity mass on the cue's
# joints during its frames against the class's own joints, for this model and for a control model
# trained on the same data without the cue; what held-out sequences carrying the cue are called; and
# how far activation maximisation of the class lifts the cue's joints (spine lengths). Empty where
# the data has no planted shortcut.
# %%
if shortcut:
    sc = read_shortcut(shortcut)
    print(f"cue: {sc['shortcut']['cue']} on {sc['shortcut']['class']}, joints {', '.join(sc['shortcut']['joints'])}, "
          f"frames {sc['shortcut']['frames']}; {sc['shortcut']['carriers']} sequences carry it")
    display(sc["behaviour"].round(3))
    display(sc["maximization"].round(3))
    display(sc["table"].round(3))
else:
    print("no planted shortcut in this data")
