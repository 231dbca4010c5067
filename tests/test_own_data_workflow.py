"""Users' own data through the whole workflow: a generic folder with train and test only, one-frame
and 300-frame sequences and a 20-joint topology; every fault of a folder in one run; a damaged
data.h5 that costs nothing; a killed snakemake resumed by the README's command."""
import json
import os
import shutil
import signal
import subprocess
import time

import h5py
import pytest
import torch
import yaml
from conftest import VENV_BIN, copy_workflow, run_snakemake
from owndata_helpers import own_dataset
from test_own_data import faulty_folder

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def _own_config(wd, name="own", path="owndata", max_frames=300):
    cfg = {"datasets": [name],
           "data": {name: {"source": "local", "path": path, "reader": "generic", "normalization": "ntu",
                           "max_frames": max_frames}},
           "models": {"lstm": {"cell": "lstm", "hidden_size": 8, "num_layers": 1}},
           "train": {"epochs": 2, "batch_size": 8, "lr": 0.01, "lr_decay_epochs": 2}}
    (wd / "own.yaml").write_text(yaml.safe_dump(cfg))
    return "own.yaml"


def test_generic_train_test_only_dataset_runs_the_whole_dag(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    own_dataset(wd / "owndata")            # Kinect v1 (20 joints), train + test, 1 and 300 frames
    p = run_snakemake(wd, "--configfile", "tests/configs/tiny.yaml", _own_config(wd), timeout=2400)
    out = p.stdout + p.stderr
    assert "prepare own: 39 sequences kept (train 25, validation 0, test 14)" in out, out[-3000:]
    assert "one frame only (no motion; kept): one_frame_train, one_frame_test" in out
    with h5py.File(wd / "results/own/data.h5") as f:
        assert f.attrs["topology"] == "kinect_v1" and f["x"].shape[1:] == (300, 20, 3)
        assert sorted(set(f["split"][...].tolist())) == [0, 2]
        assert (f["length"][...].min(), f["length"][...].max()) == (1, 300)
        assert {c["sample_id"] for c in json.loads(f.attrs["caveats"])} == {"one_frame_train", "one_frame_test"}
    metrics = json.loads((wd / "results/own/model/lstm/metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"train", "test"} and metrics["selection"].startswith("last epoch")
    assert metrics["best_epoch"] == 2
    # every declared output of the DAG exists
    p = run_snakemake(wd, "--configfile", "tests/configs/tiny.yaml", "own.yaml", "--summary", "--quiet")
    rows = [ln.split("\t") for ln in p.stdout.splitlines()[1:] if "\t" in ln]
    assert rows and not [r[0] for r in rows if not (wd / r[0]).exists()]
    for split in ("train", "validation", "test"):
        assert (wd / f"results/own/figures/lstm/04_misclassified_{split}.png").exists()
    # the data has throw but no kick: Fig. 4 says what it shows instead
    nb = (wd / "results/own/reports/02_saliency_lstm.ipynb").read_text()
    assert "'kick' is not in this dataset" in nb


def test_one_run_lists_every_fault_of_the_folder(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    folder, faults = faulty_folder(wd)
    cfg = _own_config(wd, name="mine", path=folder.name, max_frames=16)
    p = run_snakemake(wd, "results/mine/data.h5", "--configfile", "tests/configs/tiny.yaml", cfg,
                      check=False, timeout=600)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and not (wd / "results/mine/data.h5").exists()
    assert f"{len(faults)} problems to fix" in out, out[-4000:]
    for where, what in faults:   # the user's own path (as in the config), not resources/mine/raw/...
        assert any(f"my_recordings/{where}" in ln and what in ln for ln in out.splitlines()), (where, out[-4000:])
    assert "resources/mine/raw/my_recordings" not in out


def test_damaged_data_file_keeps_the_model_and_says_how_to_rebuild(tiny_run, tmp_path):
    wd = tmp_path / "wf"
    shutil.copytree(tiny_run, wd, symlinks=True, ignore=shutil.ignore_patterns(".snakemake", "logs"))
    model = wd / "results/tiny/model/lstm.pt"
    before = {p: p.read_bytes() for p in (model, model.with_suffix("") / "metrics.json",
                                          model.with_suffix("") / "history.csv")}
    data = wd / "results/tiny/data.h5"
    data.write_bytes(data.read_bytes()[:4000])            # truncated (newer than the model now)
    target = "results/tiny/model/lstm/predictions.h5"
    p = run_snakemake(wd, target, "--configfile", "tests/configs/tiny.yaml", check=False, timeout=600)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "results/tiny/data.h5: not a readable HDF5 file" in out and "Nothing was deleted" in out, out[-3000:]
    assert "rm results/tiny/data.h5, then run the same snakemake command again" in out
    assert all(path.read_bytes() == b for path, b in before.items()), "a result was lost"
    assert not (wd / "logs/tiny/train").exists(), "train was started"
    # the fix as the message gives it: rm, the same command: nothing is lost or recomputed
    data.unlink()
    p = run_snakemake(wd, target, "--configfile", "tests/configs/tiny.yaml", timeout=900)
    assert all(path.read_bytes() == b for path, b in before.items())
    # data.h5 rebuilt (as the default target does): training resumes its finished checkpoint
    run_snakemake(wd, "results/tiny/data.h5", target, "--configfile", "tests/configs/tiny.yaml", timeout=900)
    assert "resumed from results/tiny/model/lstm/checkpoint.pt after epoch 8" in \
        (wd / "logs/tiny/train/lstm.log").read_text()
    a = torch.load(model, weights_only=True)["state_dict"]
    b = torch.load(tiny_run / "results/tiny/model/lstm.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in b)


KILL_CONFIG = {"train": {"epochs": 150, "lr_decay_epochs": 100},
               **{stage: {"enabled": False} for stage in
                  ("saliency", "maximize", "activations", "autoencoder", "periods", "viewer")}}


def test_killed_snakemake_resumes_with_the_readme_command(tmp_path):
    """SIGKILL to snakemake in the middle of training (and to the job it ran, as a lost machine
    would), then the README's command again: the stale lock is handled in one line, training
    resumes, and the weights equal an uninterrupted run's."""
    ref, wd = copy_workflow(tmp_path / "ref"), copy_workflow(tmp_path / "wf")
    for d in (ref, wd):
        (d / "kill.yaml").write_text(yaml.safe_dump(KILL_CONFIG))
    args = ["--configfile", "tests/configs/tiny.yaml", "kill.yaml"]
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen([str(VENV_BIN / "snakemake"), "--cores", "2", *args], cwd=wd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = wd / "logs/tiny/train/lstm.log"
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            if log.exists() and " epoch 5/150 " in log.read_text():
                break
            time.sleep(0.05)
        assert proc.poll() is None, "snakemake ended before it could be killed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # the train job it started
        except ProcessLookupError:
            pass
    assert any((wd / ".snakemake/locks").glob("*.lock")), "the kill left no lock: nothing was tested"
    assert not (wd / "results/tiny/model/lstm.pt").exists()
    p = run_snakemake(wd, *args, timeout=1500)                   # the README's command, unchanged
    assert "skelvis: removed the lock left by a snakemake that was killed" in p.stderr
    resumed = (wd / "logs/tiny/train/lstm.log").read_text()
    assert "resumed from results/tiny/model/lstm/checkpoint.pt after epoch" in resumed
    assert "after epoch 150" not in resumed
    run_snakemake(ref, "results/tiny/model/lstm.pt", *args, timeout=1500)   # uninterrupted
    a = torch.load(wd / "results/tiny/model/lstm.pt", weights_only=True)["state_dict"]
    b = torch.load(ref / "results/tiny/model/lstm.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in b)
    assert (wd / "results/tiny/reports/01_data_and_model_lstm.ipynb").exists()
