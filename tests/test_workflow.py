"""The whole DAG on the tiny config, in a temporary copy of the workflow."""
import json
import shutil

import pytest
from conftest import copy_workflow, run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def test_tiny_run_produces_every_declared_output(tiny_run):
    p = run_snakemake(tiny_run, "--configfile", "tests/configs/tiny.yaml", "--summary", "--quiet")
    rows = [l.split("\t") for l in p.stdout.splitlines()[1:] if l.strip() and "\t" in l]
    assert rows, p.stdout
    missing = [r[0] for r in rows if not (tiny_run / r[0]).exists()]
    assert not missing, missing
    metrics = json.loads((tiny_run / "results/tiny/model/lstm/metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"train", "validation", "test"}
    for name in ("summary", "skeletons", "training", "confusion"):
        assert (tiny_run / f"results/tiny/figures/lstm/01_{name}.png").stat().st_size > 5000
    # every rule wrote a log and a benchmark file
    assert (tiny_run / "logs/tiny/train/lstm.log").read_text().count("epoch") >= 3
    assert (tiny_run / "results/tiny/benchmarks/train/lstm.tsv").exists()


def test_every_executed_notebook_shows_the_figures_it_writes(tiny_run):
    """Each executed notebook carries at least as many inline images as figure files (PNG, GIF) it
    wrote, and its HTML rendering (linked from the report) embeds them."""
    import nbformat

    reports = tiny_run / "results/tiny/reports"
    notebooks = sorted(reports.glob("*.ipynb"))
    assert len(notebooks) >= 5
    figures = tiny_run / "results/tiny/figures/lstm"
    for nb_path in notebooks:
        nb = nbformat.read(nb_path, as_version=4)
        images = sum(1 for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
                     if any(k.startswith("image/") for k in out.get("data", {})))
        prefix = nb_path.name[:3]                                   # '02_'
        written = [f for f in figures.iterdir() if f.name.startswith(prefix) and f.suffix in (".png", ".gif")]
        assert written, nb_path.name
        assert images >= len(written), f"{nb_path.name}: {images} inline images for {len(written)} figure files"
        html = nb_path.with_suffix(".html")
        assert html.exists(), html
        assert html.read_text().count("<img") >= len(written), html.name


def test_shortcut_table_compares_the_model_with_its_control(tiny_run):
    import pandas as pd

    table = pd.read_csv(tiny_run / "results/tiny/saliency/lstm_shortcut.csv")
    assert set(table["model"]) == {"with cue", "control (trained without cue)"}
    assert set(table["class"]) == {"kick"}
    doc = json.loads((tiny_run / "results/tiny/saliency/lstm_shortcut.json").read_text())
    assert doc["shortcut"]["frames"] == [0, 14] and doc["shortcut"]["carriers"] > 0
    assert (tiny_run / "results/tiny/shortcut/lstm_control.pt").exists()


def test_second_run_does_nothing(tiny_run):
    p = run_snakemake(tiny_run, "--configfile", "tests/configs/tiny.yaml", "-n")
    assert "Nothing to be done" in p.stdout + p.stderr


def _bad(tmp_path, text, *extra):
    wd = copy_workflow(tmp_path / "wf")
    (wd / "bad.yaml").write_text(text)
    p = run_snakemake(wd, "--configfile", "tests/configs/tiny.yaml", "bad.yaml", *extra, check=False, timeout=300)
    assert p.returncode != 0
    assert not (wd / "results").exists(), "a job ran despite the bad config"
    return p.stdout + p.stderr


@pytest.mark.fast
def test_misspelled_key_stops_before_any_job(tmp_path):
    out = _bad(tmp_path, "train: {epochz: 3}\n")
    assert "config key 'train.epochz': unknown key" in out


@pytest.mark.fast
def test_out_of_range_value_is_named(tmp_path):
    out = _bad(tmp_path, "train: {epochs: 0}\n")
    assert "config key 'train.epochs'" in out


@pytest.mark.fast
def test_unknown_dataset_name(tmp_path):
    out = _bad(tmp_path, "datasets: [tinny]\n")
    assert "'datasets' names ['tinny']" in out and "known datasets" in out


def test_corrupted_data_file_fails_clearly_and_keeps_no_partial_output(tiny_run, tmp_path):
    wd = tmp_path / "wf"
    shutil.copytree(tiny_run, wd, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    data = wd / "results/tiny/data.h5"
    data.write_bytes(data.read_bytes()[:2000])
    (wd / "results/tiny/model/lstm.pt").unlink()
    if (wd / "logs").exists():
        shutil.rmtree(wd / "logs")
    # the target goes before --configfile, which takes every following word as a file
    p = run_snakemake(wd, "results/tiny/model/lstm.pt", "--allowed-rules", "train",
                      "--configfile", "tests/configs/tiny.yaml", check=False, timeout=300)
    assert p.returncode != 0, p.stdout + p.stderr
    # found before scheduling (rule input functions, skelvis.inputs): train never starts
    out = p.stdout + p.stderr
    assert "data.h5: not a readable HDF5 file" in out and "rm results/tiny/data.h5" in out, out[-2000:]
    assert not (wd / "logs/tiny/train").exists()
    assert not (wd / "results/tiny/model/lstm.pt").exists()
    # nothing already computed is deleted: train's other outputs are still there
    assert (wd / "results/tiny/model/lstm/metrics.json").exists()
