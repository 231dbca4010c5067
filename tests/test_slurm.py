"""The workflow on a real Slurm cluster, through snakemake-executor-plugin-slurm and profiles/slurm.

A session fixture brings up a single-node Slurm on 127.0.0.1 (tools/slurm_up.sh: Debian's
slurmctld, slurmd, slurm-client and munge; root only) and stops every daemon it started, by PID,
in a finalizer that runs even when a test fails.  The tiny config then runs through
``snakemake --workflow-profile profiles/slurm``; the test checks that every non-local job ran as a
Slurm job (the executor's log line, ``squeue --states=all`` and the job's Slurm log) and that the
results equal those of a local run of the same config: the whole tiny DAG, every stage, with the
notebooks, the viewer and the report inputs on the login node (``localrules:``).  The Slurm run
splits the per-sequence stages into ``SHARDS`` jobs each (config ``shards``, Snakemake
scattergather) and gathers them; the local run has one shard, so the comparison also checks that
the gathered files equal the one-shard files.

Test-only flags: ``--slurm-status-command squeue`` (no slurmdbd, so ``sacct`` would only answer
"accounting storage is disabled" and the plugin would wait forever), a 2 s wait before the first
status check (default 40 s), ``--max-threads`` (the node has this machine's few cores; the rules
ask for more) and ``--set-resources`` without a GPU (the test node has none).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import ROOT, copy_workflow, run_snakemake

TINY = "tests/configs/tiny.yaml"
SHARDS = 2
SHARDED = ("evaluate", "saliency", "faithfulness", "activations")
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
ENV_VARS = ("SKELVIS_SLURM_ACCOUNT", "SKELVIS_SLURM_PARTITION")
# the flags a test cluster needs on top of the profile (see the module docstring)
TEST_FLAGS = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
              "--seconds-between-status-checks", "2", "--set-resources", "train:runtime=30",
              "--slurm-keep-successful-logs", "--retries", "0")


def _test_flags(env) -> tuple:
    """TEST_FLAGS plus --max-threads = the node's CPUs (a job asking for more would pend forever)."""
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], env=env, capture_output=True, text=True,
                          timeout=30, check=True).stdout.split()[0]
    return (*TEST_FLAGS, "--max-threads", str(min(2, int(cpus))))

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)")
RULE_BLOCK = re.compile(r"^(local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)$", re.MULTILINE)


def _env_without_site(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# the profile itself (no cluster needed)


@pytest.mark.workflow
def test_profile_gpu_rules_exist_and_ask_for_a_gpu(workflow_copy):
    """set-resources names real rules (a renamed rule would silently lose its GPU)."""
    prof = yaml.safe_load(PROFILE.read_text())
    assert prof["executor"] == "slurm"
    p = run_snakemake(workflow_copy, "--list-rules", "--configfile", TINY)
    rules = set(p.stdout.split())
    for rule, res in prof["set-resources"].items():
        assert rule in rules, f"profiles/slurm set-resources names {rule!r}, not a rule of the workflow"
        assert res["gpu"] == 1 and res["cpus_per_gpu"] >= 1
    assert "train" in prof["set-resources"]


@pytest.mark.workflow
@pytest.mark.parametrize("missing", ENV_VARS)
def test_missing_account_or_partition_stops_with_one_line(workflow_copy, missing):
    env = _env_without_site(**{v: "x" for v in ENV_VARS if v != missing})
    t0 = time.perf_counter()
    p = run_snakemake(workflow_copy, "--workflow-profile", "profiles/slurm", "--configfile", TINY,
                      "-n", check=False, env=env, timeout=120)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert time.perf_counter() - t0 < 60
    lines = [line for line in out.splitlines() if f"{missing} is not set" in line]
    assert lines, out[-3000:]
    assert f"export {missing}=" in lines[0] and "docs/cluster.md" in lines[0]
    assert "has been submitted" not in out


# --------------------------------------------------------------------------------------------
# a real cluster


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory, request) -> dict:
    """A single-node Slurm on 127.0.0.1; returns the environment that reaches it."""
    if os.geteuid() != 0:
        pytest.skip("the Slurm test needs root (it starts munged, slurmctld and slurmd)")
    slurm_dir = tmp_path_factory.mktemp("slurm")
    env = dict(os.environ, SLURM_DIR=str(slurm_dir), SLURM_CONF=str(slurm_dir / "slurm.conf"))

    def stop():
        if shutil.which("scancel"):
            subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True, timeout=30, check=False)
        subprocess.run(["bash", str(ROOT / "tools" / "slurm_down.sh")], env=env, timeout=120, check=False)

    request.addfinalizer(stop)  # registered before start: a half-started cluster is stopped too
    p = subprocess.run(["bash", str(ROOT / "tools" / "slurm_up.sh")], env=env, capture_output=True,
                       text=True, timeout=900, check=False)
    if p.returncode == 3:
        pytest.skip(f"no Slurm here: {p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr[-300:]}")
    assert p.returncode == 0, f"tools/slurm_up.sh failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return env


def _jobs(log: str) -> dict:
    """Snakemake job id -> (rule, local?) from the scheduler's job blocks."""
    return {int(j): (rule, bool(local)) for local, rule, j in RULE_BLOCK.findall(log)}


def _squeue(env) -> dict:
    """Slurm job id -> (state, comment) for all jobs the controller still knows."""
    p = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i|%T|%k"], env=env,
                       capture_output=True, text=True, timeout=30, check=True)
    rows = [line.split("|", 2) for line in p.stdout.splitlines() if line.strip()]
    return {int(i): (state, comment) for i, state, comment in rows}


def _h5_arrays(path: Path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "biuf":
                out[name] = obj[()]
        f.visititems(visit)
    return out


def _result_files(wd: Path) -> set:
    res = wd / "results"
    return {str(p.relative_to(wd)) for p in res.rglob("*") if p.is_file()
            and "benchmarks" not in p.parts and "shards" not in p.parts
            and p.name not in ("checkpoint.pt", "report.html")}
    # (report.html: made from the local run's folder by test_report, not by the DAG)


@pytest.fixture(scope="session")
def slurm_run(slurm_cluster, tmp_path_factory) -> tuple[Path, str, float]:
    wd = copy_workflow(tmp_path_factory.mktemp("slurm_wf"))
    env = dict(slurm_cluster, SKELVIS_SLURM_ACCOUNT="", SKELVIS_SLURM_PARTITION="debug")
    t0 = time.perf_counter()
    try:
        p = run_snakemake(wd, "--workflow-profile", "profiles/slurm", "--configfile", TINY,
                          *_test_flags(env), "--config", f"shards={SHARDS}", env=env, timeout=1200)
    except subprocess.TimeoutExpired as e:
        q = subprocess.run(["squeue", "--states=all"], env=env, capture_output=True, text=True, check=False)
        err = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"snakemake through Slurm took over {e.timeout} s\n{err[-4000:]}\n{q.stdout}")
    return wd, p.stdout + p.stderr, time.perf_counter() - t0


@pytest.mark.slurm
@pytest.mark.slow
def test_every_cluster_job_ran_as_a_slurm_job(slurm_cluster, slurm_run):
    _wd, log, seconds = slurm_run
    jobs = _jobs(log)
    submitted = {int(j): (int(sid), path) for j, sid, path in SUBMITTED.findall(log)}
    remote = {j for j, (_, local) in jobs.items() if not local}
    local = {j for j, (_, is_local) in jobs.items() if is_local}
    print(f"tiny config through Slurm: {seconds:.0f} s, {len(submitted)} Slurm jobs, "
          f"{len(local)} local: {sorted(jobs[j][0] for j in local)}")
    # every compute stage of the DAG went to the cluster, the cheap ones stayed on the login node
    assert {jobs[j][0] for j in remote} == {"prepare", "train", "evaluate", "saliency", "faithfulness", "maximize",
                                            "activations", "autoencoder", "periods",
                                            "prepare_control", "train_control", "shortcut",
                                            "train_seed", "attribution_benchmark", "maximize_comparison",
                                            *(f"{r}_gather" for r in SHARDED)}
    # one Slurm job per shard of every sharded stage, one gather each
    for r in SHARDED:
        assert sum(jobs[j][0] == r for j in remote) == SHARDS, r
        assert sum(jobs[j][0] == f"{r}_gather" for j in remote) == 1, r
    assert {jobs[j][0] for j in local} == {"all", "viewer", "notebook_data_model", "notebook_saliency",
                                           "notebook_maximize", "notebook_hidden_states",
                                           "notebook_periods", "notebook_attribution", "notebook_html"}
    # every non-local job (and nothing else) went through sbatch ...
    assert set(submitted) == remote, (sorted(submitted), sorted(remote))
    # ... is known to the controller, completed, under its rule's name ...
    queue = _squeue(slurm_cluster)
    for j, (sid, slurm_log) in submitted.items():
        rule = jobs[j][0]
        assert sid in queue, f"Slurm job {sid} ({rule}) unknown to squeue --states=all"
        state, comment = queue[sid]
        assert state == "COMPLETED", (rule, sid, state)
        assert comment.startswith(f"rule_{rule}"), (rule, comment)
        # ... and ran its rule in a Slurm job step (the job's own log says so)
        text = Path(slurm_log).read_text()
        assert f"rule {rule}:" in text or f"localrule {rule}:" in text, text[-2000:]
    # the Slurm job ids are exactly those of this run's submissions
    assert len({sid for sid, _ in submitted.values()}) == len(submitted)


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_results_equal_a_local_run(slurm_run, tiny_run):
    wd, _, seconds = slurm_run
    print(f"tiny config: {seconds:.0f} s through Slurm, {(tiny_run / 'wall_seconds.txt').read_text().strip()} s locally")
    ours = _result_files(wd)
    theirs = _result_files(tiny_run)
    assert ours == theirs, (sorted(ours - theirs), sorted(theirs - ours))
    # named numbers first, with clear messages
    for m in (wd / "results").rglob("metrics.json"):
        ref = json.loads((tiny_run / m.relative_to(wd)).read_text())
        got = json.loads(m.read_text())
        for split, acc in ref["accuracy"].items():
            assert got["accuracy"][split] == pytest.approx(acc, abs=1e-9), (m, split)
    preds = list((wd / "results").rglob("predictions.h5"))
    assert preds
    # then every numeric HDF5 dataset of every stage
    for h in (wd / "results").rglob("*.h5"):
        if "shards" in h.relative_to(wd).parts:       # the shards' own files; their gathers are compared
            continue
        ref, got = _h5_arrays(tiny_run / h.relative_to(wd)), _h5_arrays(h)
        assert ref.keys() == got.keys(), h
        for k in ref:
            # float16 datasets (unit maps) hold ~3 digits: a float32 sum in another order (another
            # thread count on the node) may round to the neighbouring half-precision value
            rtol = 2.0 ** -9 if ref[k].dtype == np.float16 else 1e-4
            np.testing.assert_allclose(got[k], ref[k], rtol=rtol, atol=1e-5,
                                       err_msg=f"{h.relative_to(wd)}:{k} differs between Slurm and local")


@pytest.mark.slurm
@pytest.mark.slow
def test_failed_cluster_job_shows_its_logs(slurm_cluster, slurm_run):
    """A job that fails on the cluster: snakemake names its Slurm log and its rule log."""
    wd, _, _ = slurm_run
    env = dict(slurm_cluster, SKELVIS_SLURM_ACCOUNT="", SKELVIS_SLURM_PARTITION="debug")
    # CUDA asked for on a node without it: train fails early with one line
    p = run_snakemake(wd, "--workflow-profile", "profiles/slurm", "--configfile", TINY,
                      *_test_flags(env), "--config", "device=cuda", f"shards={SHARDS}", "--forcerun", "train", "--until", "train",
                      check=False, env=env, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    m = SUBMITTED.search(out)
    assert m, out[-3000:]
    slurm_log = m.group(3)
    assert Path(slurm_log).is_file()
    assert "Error in rule train" in out
    assert slurm_log in out.split("Error in rule train", 1)[1], out[-3000:]
    assert "logs/tiny/train/lstm.log" in out
    assert "torch.cuda.is_available() is False" in out  # show-failed-logs prints the rule log
