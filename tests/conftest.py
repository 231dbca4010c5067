"""Shared fixtures: the repository root, ../shared/data, a runnable copy of the workflow."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SKELVIS_SHARED_DATA", ROOT.parent / "shared" / "data"))  # a worktree elsewhere sets it
VENV_BIN = Path(sys.executable).parent

# keep tests light on the 2-core machine
os.environ.setdefault("OMP_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

WORKFLOW_PARTS = ("workflow", "scripts", "notebooks", "config", "envs", "profiles", "tests/configs")


def copy_workflow(dest: Path) -> Path:
    """Copy what a snakemake run needs (not results) into ``dest``; return it."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = ROOT / part
        if src.exists():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
    return dest


def without_venv(path: str) -> str:
    """``path`` (a PATH value) without the test venv's bin folder."""
    return os.pathsep.join(p for p in path.split(os.pathsep) if p and Path(p).resolve() != VENV_BIN.resolve())


def load_benchmark(name: str):
    """The module benchmarks/<name>.py (not a package: loaded from its file)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def peak_memory(fn) -> int:
    """Peak bytes Python allocated (tracemalloc) while ``fn()`` ran."""
    import tracemalloc
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1500,
                  env: dict | None = None, venv_on_path: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake (from the test's venv) in ``workdir``; output captured as text.

    ``venv_on_path=False`` runs ``.venv/bin/snakemake`` as a user who has not activated the venv:
    its bin folder is neither on PATH nor in VIRTUAL_ENV.
    """
    e = dict(os.environ)
    e.update(env or {})
    if venv_on_path:
        e["PATH"] = f"{VENV_BIN}{os.pathsep}{e.get('PATH', '')}"  # tools even when env has its own PATH
    else:
        e["PATH"] = without_venv(e.get("PATH", ""))
        e.pop("VIRTUAL_ENV", None)
    cmd = [str(VENV_BIN / "snakemake"), "--cores", "2", *args]
    p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=e, check=False)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}")
    return p


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    return copy_workflow(tmp_path / "wf")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole default DAG on tests/configs/tiny.yaml, run once per session; returns its folder."""
    wd = copy_workflow(tmp_path_factory.mktemp("tiny"))
    t0 = time.perf_counter()
    run_snakemake(wd, "--configfile", "tests/configs/tiny.yaml")
    (wd / "wall_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")  # reported by the Slurm test
    return wd


@pytest.fixture(scope="session")
def planted():
    """A small LSTM (8 units, 2 classes) trained on data where only joint 2 of 5 carries the class
    (an up vs down drift) and every other joint moves at random: (model, x (96, 12, 5, 3), length,
    label); the ground truth of the saliency and attribution ranking tests."""
    import torch

    from skelvis.models import RecurrentClassifier
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    N, T, J, C = 96, 12, 5, 3
    y = torch.arange(N) % 2
    x = 0.5 * torch.randn(N, T, J, C, generator=g)
    ramp = torch.linspace(0, 1, T)[None, :, None]
    x[:, :, 2, :] = 0.1 * torch.randn(N, T, C, generator=g) + (2 * y[:, None, None] - 1) * 1.5 * ramp
    length = torch.full((N,), T)
    m = RecurrentClassifier(J * C, 8, 2, cell="lstm")
    opt = torch.optim.Adam(m.parameters(), lr=0.03)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x, length), y).backward()
        opt.step()
    m.eval()
    assert (m(x, length).argmax(1) == y).float().mean() > 0.95
    return m, x, length, y
