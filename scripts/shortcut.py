"""Rule shortcut: data + model + control model -> saliency/{arch}_shortcut.json/.csv (thin adapter)."""
import json

import numpy as np
from skelvis.constraints import constraint_set
from skelvis.datasets.store import read_dataset
from skelvis.models import load_model, resolve_device
from skelvis.rulelog import rule_logging
from skelvis.shortcut import (
    cue_behaviour,
    maximization_cue_shift,
    occlusion_drop,
    shortcut_info,
    shortcut_table,
    true_class_maps,
    write_shortcut,
)
from skelvis.topology import get_topology
from skelvis.train import predict, seed_everything, to_tensors

with rule_logging(snakemake) as log:
    p = snakemake.params
    seed_everything(int(p.seed))
    device = resolve_device(p.device)
    ds = read_dataset(snakemake.input.data)
    twin = read_dataset(snakemake.input.control_data)
    info = shortcut_info(ds)
    if info is None:
        raise ValueError(f"{snakemake.input.data}: no planted shortcut recorded (attr 'shortcut'); "
                         "set data.<name>.synthetic.shortcut.enabled: true and run 'prepare' again")
    topo = get_topology(ds.topology)
    c = ds.classes.index(info["class"])
    idx = np.flatnonzero(ds.label == c)
    models = {"with cue": load_model(snakemake.input.model).to(device),
              "control (trained without cue)": load_model(snakemake.input.control).to(device)}
    maps, twin_maps, predicted, drops = {}, {}, {}, {}
    x, length, _ = to_tensors(ds, device=device)
    for name, m in models.items():
        full = np.zeros(ds.x.shape[:3], np.float32)
        full[idx] = true_class_maps(m, ds, idx, p.saliency)
        maps[name] = full
        twin_full = np.zeros(ds.x.shape[:3], np.float32)
        twin_full[idx] = true_class_maps(m, twin, idx, p.saliency)
        twin_maps[name] = twin_full
        predicted[name] = predict(m, x, length).argmax(1).cpu().numpy()
        drops[name] = occlusion_drop(m, ds, twin)
    cj = ds.extra_attrs["class_joints"]
    table = shortcut_table(ds, maps, topo.joints, json.loads(cj) if isinstance(cj, str) else cj, drops,
                           twin_maps)
    log.info("shortcut %s (%s, frames %s):\n%s", info["class"], ", ".join(info["joints"]), info["frames"],
             table.to_string(index=False))
    behaviour = cue_behaviour(ds, predicted)
    log.info("behaviour on held-out data:\n%s", behaviour.to_string(index=False))
    # maximisation of the class from its first held-out sequences without the cue (whatever the
    # models call them: a model that took the shortcut may call none of them by their class)
    start = np.flatnonzero((ds.label == c) & (ds.split != 0) & ~info["carries"])[:int(p.maximize_sequences)]
    cs = constraint_set(topo, floor=bool(p.maximize.get("floor", False)),
                        angle_limits=p.maximize.get("angle_limits") or None)
    maximization = {name: maximization_cue_shift(m, ds, start, cs, p.maximize) for name, m in models.items()} \
        if len(start) else {"skipped": "no held-out sequence of the class without the cue"}
    log.info("maximisation: %s", json.dumps(maximization, indent=1))
    write_shortcut(snakemake.output.json, snakemake.output.csv, table, behaviour, maximization, info,
                   data=snakemake.input.data, model=snakemake.input.model, control=snakemake.input.control,
                   control_data=snakemake.input.control_data)
