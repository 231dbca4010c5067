"""benchmarks/plan_cluster.py: the NTU-120 Slurm plan follows from the measured costs."""
import json

import pytest
from conftest import load_benchmark

pytestmark = pytest.mark.fast



def _module():
    return load_benchmark('plan_cluster')


def _scale(rule_costs):
    """scale.json-like runs at 4,000 and 44,000 sequences: rule -> (seconds(N), bytes(N), rss)."""
    runs = {}
    for n in (4000, 44000):
        runs[str(n)] = {"rules": {r: {"seconds": s(n), "output_bytes": b(n), "max_rss_mb": m}
                                  for r, (s, b, m) in rule_costs.items()}}
    return {"runs": runs}


def test_linear_stage_is_extrapolated_and_sharded_to_fit_the_limit():
    pc = _module()
    # saliency: 0.1 s per sequence (linear), 40 KB per sequence; periods: bounded (flat)
    scale = _scale({"saliency": (lambda n: 0.1 * n, lambda n: 40_000 * n, 450.0),
                    "periods": (lambda n: 300.0, lambda n: 7e6, 900.0)})
    p = pc.plan(scale, 114_480, limit_h=1.0, gpu=None)
    rows = {r["rule"]: r for r in p["rules"]}
    sal, per = rows["saliency"], rows["periods"]
    assert sal["time_exponent"] == pytest.approx(1.0, abs=1e-6)
    assert sal["seconds_at_target"] == pytest.approx(11_448, abs=1)
    # half of a 1-hour limit per shard: ceil(11,448 / 1,800) = 7 shards
    assert sal["shards"] == 7 and sal["seconds_per_job"] <= 1800
    assert sal["output_gb"] == pytest.approx(114_480 * 40_000 / 1e9, abs=0.005)
    assert sal["mem_mb"] == 1000                      # 1.5 x 450 MB, rounded up to 500 MB
    scale["runs"]["4000"]["rules"]["saliency"]["max_rss_exact_mb"] = 1400.0   # a peak the sampler missed
    assert {r["rule"]: r for r in pc.plan(scale, 114_480, 1.0, None)["rules"]}["saliency"]["mem_mb"] == 2500
    assert per["time_exponent"] == pytest.approx(0.0, abs=1e-9) and per["seconds_at_target"] == 300
    assert per["shards"] == 1                         # not a scattergather stage
    assert p["disk_gb"] == pytest.approx(sal["output_gb"] + per["output_gb"], abs=0.1)


def test_training_hours_come_from_cuda_when_measured_else_the_cpu_figure():
    pc = _module()
    scale = _scale({"train": (lambda n: 0.002 * n, lambda n: 5e5, 700.0)})
    cpu = {"summary": {"cpu_threads": 1}, "cpu": {"ms_per_step": 150.0}}
    p = pc.plan(scale, 114_480, 4.0, cpu)
    assert p["training"]["hours"] == pytest.approx(25_800 * 0.150 / 3600, abs=0.01)
    assert "no GPU" in p["training"]["source"]
    gpu = dict(cpu, cuda={"ms_per_step": 6.0}, summary={"gpu": "NVIDIA H200"})
    p = pc.plan(scale, 114_480, 4.0, gpu)
    assert p["training"]["hours"] == pytest.approx(25_800 * 0.006 / 3600, abs=0.01)
    assert p["training"]["device"] == "NVIDIA H200"
    md = pc.markdown(p)
    assert "| `train` |" in md and "NVIDIA H200" in md and json.dumps(p)
