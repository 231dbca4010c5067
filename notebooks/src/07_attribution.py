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
# # Which saliency can a user trust? (issue 18)
# Ten attribution methods for the same model and the same sequences — the paper's local
# sensitivity (Eq. 1-5), the plain gradient through time, gradient x input, integrated gradients
# from the first frame held still and from zeros, SmoothGrad, occlusion of one joint and of a whole
# limb with the bone-preserving freeze, class-level LRP and a random map — scored on ground truth (synthetic data), deletion and
# insertion, faithfulness correlation, the model-randomisation test, stability under sensor noise
# and cost. Executed by papermill from the rule `notebook_attribution`; it only loads results
# (`attribution_benchmark`) and plots.

# %% tags=["parameters"]
# parameters
data = "results/synthetic/data.h5"
benchmark = "results/synthetic/attribution/lstm_benchmark.csv"
maps = "results/synthetic/attribution/lstm_benchmark.h5"
figures = "results/synthetic/figures/lstm"
early = 0.25
late = 0.7

# %%
from IPython.display import display

from skelvis import plots
from skelvis.attribution.benchmark import read_benchmark, read_benchmark_maps
from skelvis.datasets.store import read_dataset
from skelvis.plots import attribution as ap
from skelvis.topology import get_topology

ds = read_dataset(data, lazy=True)  # poses read on access: only the sequences a figure draws
table = read_benchmark(benchmark)
bench = read_benchmark_maps(maps)
joints = get_topology(ds.topology).joints
rows = bench["rows"]
print(f"{len(rows)} sequences of {ds.name} scored; methods: {', '.join(bench['methods'])}")

# %% [markdown]
# ## The table
# Mean over the scored sequences with its percentile-bootstrap 95% interval (`n` sequences; the
# shortcut masses are over the training sequences that carry the planted cue, for this model and
# the control model trained without the cue). Seed Spearman: the rank correlation with the maps of
# the same architecture trained with the next seed (higher = more stable across training runs). Deletion AUC: lower is
# more faithful; the `random_order` row is the baseline every method must beat. Randomisation
# Spearman: lower passes (the map changed when the weights were re-drawn).

# %%
display(ap.wide_table(table))
fig = ap.table_figure(table, title=f"{ds.name}: attribution methods, mean [bootstrap 95% interval]")
plots.save_figure(fig, figures, "07_table")

# %% [markdown]
# ## Which map catches the planted shortcut?
# The model trained with the cue uses it (it loses much of the class's probability when the cue is
# taken out; right panel), the control model trained on the same data without the cue does not. A
# map that a user can trust to reveal the shortcut puts more mass on the cue for the first than for
# the second on the very same sequences: the ratio above each pair of bars (1 = the map does not
# tell the models apart).

# %%
fig = ap.shortcut_figure(table, title=f"{ds.name}: mass on the planted cue, model with the cue vs control")
plots.save_figure(fig, figures, "07_shortcut")

# %% [markdown]
# ## Deletion and insertion curves
# Joints frozen to their parent at their first-frame offset (bones keep their lengths), in the
# order of each method's map (summed over time), against random orders.

# %%
fig = ap.curves_figure(bench, title=f"{ds.name}: deletion and insertion of joints")
plots.save_figure(fig, figures, "07_curves")

# %% [markdown]
# ## The model-randomisation test, one sequence
# Each method's map for the trained model, after the classifier was re-drawn, and after the
# recurrent layer was re-drawn as well (cascading from the top). A map that stays the same does not
# depend on what the model learned.

# %%
pos = bench["examples"]["throw"]
fig = ap.randomisation_figure(bench, pos, int(ds.length[rows[pos]]), joints,
                              title=f"model-parameter randomisation: {ds.classes[ds.label[rows[pos]]]} "
                                    f"({ds.sample_id[rows[pos]]})")
plots.save_figure(fig, figures, "07_randomisation")

# %% [markdown]
# ## Fig. 4 for every method: a *throw* and a *kick* frame

# %%
def frame(p, share):
    return round(share * (int(ds.length[rows[p]]) - 1))


ia, ib = bench["examples"]["throw"], bench["examples"]["kick"]
na, nb = ds.classes[ds.label[rows[ia]]], ds.classes[ds.label[rows[ib]]]
panels = [(ia, frame(ia, early), f"{na}, t={frame(ia, early)}"), (ia, frame(ia, late), f"{na}, t={frame(ia, late)}"),
          (ib, frame(ib, early), f"{nb}, t={frame(ib, early)}"), (ib, frame(ib, late), f"{nb}, t={frame(ib, late)}")]
note = bench["examples"].get("note", "")
fig = ap.throw_kick_figure(ds, bench, panels, title="Fig. 4 for every method" + (f"\n{note}" if note else ""))
plots.save_figure(fig, figures, "07_throw_kick")
