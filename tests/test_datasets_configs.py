"""The real-dataset configs validate against the schema (merged over config/config.yaml as
snakemake does) and plan a DAG; a placeholder sha256 stops the fetch rule with a clear line."""
import pytest
import yaml
from conftest import ROOT, copy_workflow, run_snakemake

from skelvis.config import validate_config

CONFIGS = ["ntu60", "ntu120", "sysu", "msr_action3d", "auslan", "generic_example"]


def _merged(name):
    from snakemake.utils import update_config
    base = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    update_config(base, yaml.safe_load((ROOT / f"config/{name}.yaml").read_text()))
    return base


@pytest.mark.fast
@pytest.mark.parametrize("name", CONFIGS)
def test_config_validates(name):
    cfg = validate_config(_merged(name), ROOT / "workflow/schemas/config.schema.yaml")
    ds = cfg["data"][cfg["datasets"][0]]
    assert ds["source"] in ("local", "http") and ds["reader"] != "synthetic"


@pytest.mark.fast
def test_paper_hyper_parameters():
    ntu, sysu = _merged("ntu60"), _merged("sysu")
    assert ntu["models"]["lstm"]["hidden_size"] == 150 and ntu["train"]["batch_size"] == 128
    assert ntu["train"]["lr"] == 0.005 and ntu["train"]["lr_decay_epochs"] == 100
    assert sysu["models"]["lstm"]["hidden_size"] == 200 and sysu["train"]["batch_size"] == 64
    assert sysu["train"]["lr_decay_epochs"] == 60


@pytest.mark.slow
@pytest.mark.workflow
def test_placeholder_sha256_stops_fetch(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    p = run_snakemake(wd, "results/auslan/data.h5", "--configfile", "config/auslan.yaml", check=False)
    assert p.returncode != 0
    log = (wd / "logs/auslan/fetch/tctodd.tar.gz.log").read_text()
    assert "config key 'data.auslan.sha256': no valid sha256" in log
    assert not (wd / "resources/auslan/download/tctodd.tar.gz").exists()
