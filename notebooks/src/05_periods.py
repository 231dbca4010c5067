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
# # Inside the hidden units
# Highly activated periods of every hidden unit (its response above a quantile of its responses
# over the training set, found by run-length encoding), the k-means clusters of the input
# sub-sequences under them with their class purity, and the LRP relevance of single units on the
# input joints with Monte-Carlo-dropout uncertainty (Cho et al. 2020; Arras et al. 2017).
# Executed by papermill from the rule `notebook_periods`; it only loads results and plots.

# %% tags=["parameters"]
# parameters
data = "results/synthetic/data.h5"
periods = "results/synthetic/periods/lstm.h5"
figures = "results/synthetic/figures/lstm"
strip_frames = 6

# %%
import pandas as pd

from skelvis import plots
from skelvis.datasets.store import read_dataset
from skelvis.periods import read_periods
from skelvis.plots import periods as pp

ds = read_dataset(data, lazy=True)  # poses read on access: the figures show a few sequences
an = read_periods(periods)
pd.Series(pp.purity_table(an), name="value").to_frame()

# %% [markdown]
# ## Periods over one sequence

# %%
plots.save_figure(pp.periods_figure(an, ds), figures, "05_periods")

# %% [markdown]
# ## Cluster representatives

# %%
plots.save_figure(pp.clusters_figure(an, ds, frames=max(3, strip_frames - 2)), figures, "05_clusters")

# %% [markdown]
# ## Unit-level relevance with its uncertainty

# %%
plots.save_figure(pp.relevance_figure(an, ds), figures, "05_relevance")

# %% [markdown]
# ## Do a unit's clusters align with one class?

# %%
plots.save_figure(pp.purity_figure(an, f"{ds.name}: cluster purity per hidden unit"), figures, "05_purity")
