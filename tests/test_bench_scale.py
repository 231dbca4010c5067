"""The measurements of benchmarks/bench_scale.py: each rule's exact peak memory from its log."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_benchmark

pytestmark = pytest.mark.fast



def _bench_scale():
    return load_benchmark('bench_scale')


RULE = """
import sys, types
import numpy as np
from skelvis.rulelog import rule_logging
log, rule, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
smk = types.SimpleNamespace(log=[log], input=[], output=[], threads=1, rule=rule)
with rule_logging(smk):
    if mb:
        a = np.ones(mb * 2**20 // 8)   # touched and freed at once: a peak a sampler can miss
        assert a.sum() > 0
"""


def _run_rule(log: Path, rule: str, mb: int):
    """One rule in its own process (its own high-water mark), as Snakemake runs a script."""
    subprocess.run([sys.executable, "-c", RULE, str(log), rule, str(mb)], check=True)


def test_rule_log_records_the_exact_peak_and_bench_scale_reads_it(tmp_path):
    """A rule that briefly allocates 300 MB logs a peak RSS about that much above an idle rule's
    (getrusage, not sampled), and bench_scale takes each rule's largest peak over its logs."""
    wd = tmp_path / "wd"
    import numpy as np
    launcher = np.ones(500 * 2**20 // 8)   # a large launcher (as pytest or snakemake can be): Linux
    assert launcher.sum() > 0              # carries getrusage's maxrss across exec, VmHWM it resets
    _run_rule(wd / "logs/d/light/lstm.log", "light", 0)
    _run_rule(wd / "logs/d/heavy/lstm_2d.log", "heavy", 300)
    _run_rule(wd / "logs/d/heavy/lstm_3d.log", "heavy", 0)
    peaks = _bench_scale().exact_peaks(wd)
    assert set(peaks) == {"light", "heavy"}
    assert 280 <= peaks["heavy"] - peaks["light"] <= 400
    text = (wd / "logs/d/heavy/lstm_2d.log").read_text()
    assert "peak RSS" in text and "CPU" in text


def test_merged_runs_give_the_exponent_over_every_size(tmp_path, monkeypatch):
    """Sizes measured by two invocations merge into one file whose exponents fit all sizes:
    seconds = 0.01 N (slope 1) for one rule, constant for another (slope 0)."""
    bs = _bench_scale()
    monkeypatch.setattr(bs, "OUT", tmp_path)
    import _util
    monkeypatch.setattr(_util, "OUT", tmp_path)

    def run(n):
        return {"rules": {"saliency": {"seconds": 0.01 * n, "max_rss_mb": 400.0},
                          "periods": {"seconds": 30.0, "max_rss_mb": 800.0}}}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"runs": {"44000": run(44000), "4000": run(4000)}, "compared": "big"}))
    b.write_text(json.dumps({"runs": {"2000": run(2000), "8000": run(8000)}, "compared": "small"}))
    out = bs.main(["--merge", str(a), str(b), "--out", "merged"])
    doc = json.loads(out.read_text())
    assert doc["sizes"] == [2000, 4000, 8000, 44000]
    assert doc["summary"]["time_exponent"]["saliency"] == pytest.approx(1.0, abs=1e-3)
    assert doc["summary"]["time_exponent"]["periods"] == pytest.approx(0.0, abs=1e-3)
