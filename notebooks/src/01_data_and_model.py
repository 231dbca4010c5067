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
# # Data and model
# The summary SkeletonVis shows in its header, one skeleton strip per class, the training curves
# and the confusion matrix. Executed by papermill from the rule `notebook_data_model`; it only plots.

# %% tags=["parameters"]
# parameters
data = "results/synthetic/data.h5"
model = "results/synthetic/model/lstm.pt"
metrics = "results/synthetic/model/lstm/metrics.json"
history = "results/synthetic/model/lstm/history.csv"
predictions = "results/synthetic/model/lstm/predictions.h5"
confusion = "results/synthetic/model/lstm/confusion.csv"
figures = "results/synthetic/figures/lstm"
strip_frames = 6
confusion_split_wanted = "test"

# %%
from IPython.display import display

from skelvis import plots
from skelvis.datasets.store import read_dataset
from skelvis.evaluate import confusion_split, read_confusion, read_history, read_metrics
from skelvis.models import load_model

ds = read_dataset(data, lazy=True)  # poses read on access: the figures show one sequence per class
net = load_model(model)
met = read_metrics(metrics)

# %%
table = plots.summary_table(ds, net.spec(), met)
plots.save_figure(plots.summary_figure(table, f"{ds.name}: data and model"), figures, "01_summary")
display(table)

# %%
fig = plots.skeleton_strips_figure(ds, strip_frames)
plots.save_figure(fig, figures, "01_skeletons")

# %%
fig = plots.training_figure(read_history(history), met.get("best_epoch"), met.get("selection", ""))
plots.save_figure(fig, figures, "01_training")

# %%
cm = read_confusion(confusion)
shown = confusion_split(ds.split, confusion_split_wanted)
fig = plots.confusion_figure(cm, f"{ds.name}: confusion matrix, {shown} split ({int(cm.values.sum())} sequences)"
                             + ("" if shown == confusion_split_wanted else f"\nno {confusion_split_wanted} split in this dataset"))
plots.save_figure(fig, figures, "01_confusion")
