"""Shards (config `shards`, Snakemake scattergather; issue 16): contiguous row ranges of data.h5, one
job each, gathered into the files a one-shard run writes.  The gathered files equal the one-shard
files (integers exactly, floats within 1e-6 relative), in the library and in the workflow."""
from __future__ import annotations

import json
import re
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import copy_workflow, run_snakemake
from test_streaming import _dataset, _model

from skelvis import activations as A
from skelvis import evaluate as E
from skelvis import faithfulness as F
from skelvis import saliency as S
from skelvis.datasets.store import parse_shard, read_dataset_info, shard_rows, write_dataset
from skelvis.errors import ConfigError
from skelvis.settings import ActivationsConfig, SaliencyConfig

JOINTS = ["j0", "j1", "j2", "j3"]


def _items(n):
    return [f"{i}-of-{n}" for i in range(1, n + 1)]


@pytest.mark.fast
def test_shard_rows_cover_every_row_once_in_order():
    for N in (1, 2, 7, 11, 100):
        for n in range(1, min(N, 12) + 1):
            parts = [shard_rows(N, item) for item in _items(n)]
            rows = np.concatenate([np.arange(N)[p] for p in parts])
            np.testing.assert_array_equal(rows, np.arange(N))
            sizes = [p.stop - p.start for p in parts]
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert shard_rows(5, None) == slice(0, 5) and parse_shard("") == (1, 1)
    with pytest.raises(ConfigError, match=r"^config key 'shards' is 6 but d\.h5 has 5 sequences; use at most 5"):
        shard_rows(5, "1-of-6", "d.h5")
    for bad in ("0-of-3", "4-of-3", "x", "1of3"):
        with pytest.raises(ConfigError, match="i-of-n"):
            parse_shard(bad)


def _arrays(path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        out["attrs"] = dict(f.attrs)
    return out


def assert_same_file(got, ref, name=""):
    """Every dataset and attr of two HDF5 files: integers, strings and attrs exactly, floats within 1e-6 relative."""
    a, b = _arrays(got), _arrays(ref)
    assert a.keys() == b.keys(), (name, sorted(a.keys() ^ b.keys()))
    assert a.pop("attrs") == b.pop("attrs"), name
    for k in b:
        assert a[k].shape == b[k].shape and a[k].dtype == b[k].dtype, (name, k)
        if b[k].dtype.kind == "f":
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=0, err_msg=f"{name}:{k}")
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name}:{k}")


@pytest.fixture
def data(tmp_path):
    ds = _dataset(N=13)
    write_dataset(ds, tmp_path / "data.h5")
    return ds, tmp_path / "data.h5"


@pytest.mark.fast
@pytest.mark.parametrize("n", [2, 3, 13])
def test_gathered_library_files_equal_one_shard(data, tmp_path, n):
    ds, path = data
    m = _model()
    info = read_dataset_info(path)
    rows = [shard_rows(len(ds.x), item) for item in _items(n)]
    # evaluate: predictions.h5 and confusion.csv
    ev, meta = E.stream_evaluation(m, path, chunk=4)
    E.write_predictions(ev, meta, tmp_path / "p1.h5", model="m.pt", data="d.h5")
    E.write_confusion(ev, meta, tmp_path / "c1.csv", split="test")
    parts = []
    for i, r in enumerate(rows):
        ev_s, meta_s = E.stream_evaluation(m, path, r, chunk=3, info=info)
        parts.append(tmp_path / f"p_{i}.h5")
        E.write_predictions(ev_s, meta_s, parts[-1], model="m.pt", data="d.h5")
    E.gather_predictions(parts, tmp_path / "pn.h5", tmp_path / "cn.csv", split="test")
    assert_same_file(tmp_path / "pn.h5", tmp_path / "p1.h5", "predictions")
    assert (tmp_path / "cn.csv").read_text() == (tmp_path / "c1.csv").read_text()
    assert pd.read_csv(tmp_path / "cn.csv", index_col=0).to_numpy().sum() == (ds.split == 2).sum()
    # saliency (kept unit maps: 1 per class; the kept rows fall in different shards)
    cfg = SaliencyConfig(units=(1, 4), keep_unit_maps=1, chunk_size=2, device="cpu")
    S.stream_saliency(m, path, tmp_path / "s1.h5", cfg, info=info)
    parts = []
    for i, r in enumerate(rows):
        parts.append(tmp_path / f"s_{i}.h5")
        S.stream_saliency(m, path, parts[-1], cfg, rows=r, info=info)
    S.gather_saliency(parts, tmp_path / "sn.h5", rows=2)
    assert_same_file(tmp_path / "sn.h5", tmp_path / "s1.h5", "saliency")
    assert len(S.read_saliency(tmp_path / "sn.h5")["unit_map_index"]) == 3
    # faithfulness: the shards' sums added up, deletion on a subset that crosses shards
    fcfg = SaliencyConfig(faithfulness_split="all", deletion_random_orders=2, deletion_max_sequences=7, seed=3)
    one = F.score_files(m, path, tmp_path / "s1.h5", JOINTS, fcfg, chunk=4)
    for i, r in enumerate(rows):
        F.write_shard(F.score_shard(m, path, tmp_path / "s1.h5", fcfg, r, chunk=2), tmp_path / f"f_{i}.h5")
    got = F.combine_shards([F.read_shard(tmp_path / f"f_{i}.h5") for i in range(n)], info, JOINTS, fcfg)
    assert got["n"] == one["n"] == len(ds.x) and got["deletion"]["n"] == one["deletion"]["n"] == 7
    assert got["mass_share"] == one["mass_share"]                       # same per-sequence sums, same numpy code
    for k in ("salient", "random", "auc_salient", "auc_random"):
        np.testing.assert_allclose(got["deletion"][k], one["deletion"][k], rtol=1e-6)
    np.testing.assert_allclose(got["deletion"]["random_std"], one["deletion"]["random_std"], rtol=0,
                               atol=1e-6 * max(map(abs, one["deletion"]["random"])))   # a spread of near-equal curves
    # activations
    acfg = ActivationsConfig(batch_size=4, device="cpu")
    A.stream_activations(m, path, tmp_path / "a1.h5", acfg, model_path="m.pt", info=info)
    parts = []
    for i, r in enumerate(rows):
        parts.append(tmp_path / f"a_{i}.h5")
        A.stream_activations(m, path, parts[-1], acfg, rows=r, model_path="m.pt", info=info)
    assert A.gather_activations(parts, tmp_path / "an.h5") == len(ds.x)
    assert_same_file(tmp_path / "an.h5", tmp_path / "a1.h5", "activations")


STAGE_FILES = ("model/lstm/predictions.h5", "model/lstm/confusion.csv", "saliency/lstm.h5",
               "saliency/lstm_faithfulness.json", "activations/lstm.h5")


def _jobs(dry_run: str) -> dict:
    """{rule: job count} from the table a dry run prints."""
    table = dry_run.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


@pytest.mark.workflow
@pytest.mark.slow
def test_sharded_workflow_equals_the_one_shard_run(tiny_run, tmp_path):
    """The tiny run's data and model, its per-sequence stages again with shards=2: one job per shard
    and stage, a gather each, files equal to the one-shard run's; shards=1 plans today's DAG.
    (The library test above covers 3 and one shard per sequence.)"""
    wd = copy_workflow(tmp_path / "wf")
    for f in ("data.h5", "model/lstm.pt", "model/lstm/metrics.json", "model/lstm/history.csv"):
        (wd / "results/tiny" / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tiny_run / "results/tiny" / f, wd / "results/tiny" / f)
    targets = [f"results/tiny/{f}" for f in STAGE_FILES]
    one = _jobs(run_snakemake(wd, "--configfile", "tests/configs/tiny.yaml", "-n", *targets).stdout)
    assert one == {"evaluate": 1, "saliency": 1, "faithfulness": 1, "activations": 1}, one
    p = run_snakemake(wd, *targets, "--configfile", "tests/configs/tiny.yaml", "--config", "shards=2")
    jobs = _jobs(p.stdout + p.stderr)
    for stage in ("evaluate", "saliency", "faithfulness", "activations"):
        assert jobs[stage] == 2 and jobs[f"{stage}_gather"] == 1, jobs
    assert "train" not in jobs and "prepare" not in jobs, jobs
    for f in STAGE_FILES:
        ref, got = tiny_run / "results/tiny" / f, wd / "results/tiny" / f
        if f.endswith(".h5"):
            assert_same_file(got, ref, f)
        elif f.endswith(".csv"):
            assert got.read_text() == ref.read_text()
        else:
            a, b = json.loads(got.read_text()), json.loads(ref.read_text())
            assert a["mass_share"] == b["mass_share"] and a["n"] == b["n"], f
            for k in ("salient", "random"):
                np.testing.assert_allclose(a["deletion"][k], b["deletion"][k], rtol=1e-6)
            # a spread of nearly equal curves: within 1e-6 of the curves' scale (the model's float32
            # probabilities differ in the last bits with the batch a sequence is scored in)
            scale = max(map(abs, b["deletion"]["random"]))
            np.testing.assert_allclose(a["deletion"]["random_std"], b["deletion"]["random_std"], rtol=0,
                                       atol=1e-6 * scale)
    shard_files = sorted(p.name for p in (wd / "results/tiny/shards").rglob("*.h5"))
    assert shard_files == sorted(f"lstm_{i}.h5" for i in _items(2) for _ in range(4))
    # a failed shard (no file, hence no gathered file): the same command runs only that shard again,
    # then the gather and what reads the gathered file
    (wd / "results/tiny/shards/saliency/lstm_2-of-2.h5").unlink()
    (wd / "results/tiny/saliency/lstm.h5").unlink()
    again = _jobs(run_snakemake(wd, *targets, "-n", "--configfile", "tests/configs/tiny.yaml",
                                "--config", "shards=2").stdout)
    assert again["saliency"] == 1 and again["saliency_gather"] == 1, again
    assert "evaluate" not in again and "activations" not in again, again
    # more shards than sequences: refused before any job starts, one line naming both numbers
    N = read_dataset_info(wd / "results/tiny/data.h5").shape[0]
    p = run_snakemake(wd, *targets, "-n", "--configfile", "tests/configs/tiny.yaml", "--config", f"shards={N + 1}",
                      check=False)
    assert p.returncode != 0
    assert f"config key 'shards' is {N + 1} but results/tiny/data.h5 has {N} sequences" in p.stdout + p.stderr
