"""The whole DAG on real MSR Action3D data (config/msr_action3d.yaml, a `local` source at
../shared/data/msr_action3d), in a copy of the workflow; reports the cross-subject test accuracy."""
import json

import pytest
import yaml
from conftest import copy_workflow, run_snakemake

from skelvis.datasets.store import read_dataset


@pytest.mark.slow
@pytest.mark.workflow
@pytest.mark.realdata
def test_msr_action3d_whole_dag(shared_data, tmp_path, record_property):
    wd = copy_workflow(tmp_path / "wf")
    (tmp_path / "shared").symlink_to(shared_data.parent, target_is_directory=True)  # ../shared/data as in CI
    run_snakemake(wd, "--configfile", "config/msr_action3d.yaml", timeout=1500)
    ds = read_dataset(wd / "results/msr_action3d/data.h5")
    n, split, subject = len(ds.label), ds.split, ds.subject
    excluded = json.loads(ds.extra_attrs["excluded"])
    assert ds.topology == "msr_action3d" and len(ds.classes) == 20
    assert n == 566 and excluded == [{"sample_id": "a13_s09_e02", "reason": "all-zero joints"}]
    cfg = yaml.safe_load((wd / "config/msr_action3d.yaml").read_text())["data"]["msr_action3d"]["msr_action3d"]
    assert set(subject[split == 0]) == set(cfg["train_subjects"]) - set(cfg["validation_subjects"])
    assert set(subject[split == 2]) == {2, 4, 6, 8, 10} - set(cfg["validation_subjects"])
    metrics = json.loads((wd / "results/msr_action3d/model/lstm/metrics.json").read_text())
    acc = metrics["accuracy"]["test"]
    record_property("msr_action3d_test_accuracy", acc)
    print(f"\nMSR Action3D cross-subject test accuracy: {acc:.3f} ({metrics['accuracy']})")
    assert acc > 0.45  # far above chance (0.05); LSTMs on raw MSR joints usually land at 0.6-0.9
    log = (wd / "logs/msr_action3d/prepare.log").read_text()
    assert "excluded a13_s09_e02: all-zero joints" in log


@pytest.mark.slow
@pytest.mark.workflow
def test_local_source_missing_says_where(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config/msr_action3d.yaml").read_text())
    cfg["data"]["msr_action3d"]["path"] = "nowhere/msr_action3d"
    (wd / "config/missing.yaml").write_text(yaml.safe_dump(cfg))
    p = run_snakemake(wd, "results/msr_action3d/data.h5", "--configfile", "config/missing.yaml", check=False)
    assert p.returncode != 0
    log = (wd / "logs/msr_action3d/source.log").read_text()
    assert "Where to get it: the authors' UOW dataset page" in log and "Where to put it" in log
    assert not (wd / "resources/msr_action3d/raw").exists()
