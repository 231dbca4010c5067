"""The set-up reproduces: ranges in pyproject.toml, exact pins in requirements.lock, the conda
environment built from a copy of envs/skelvis.yaml, and a workflow that runs unactivated."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from conftest import run_snakemake, without_venv
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
ENV = ROOT / "envs" / "skelvis.yaml"
POST_DEPLOY = ROOT / "envs" / "skelvis.post-deploy.sh"
sys.path.insert(0, str(ROOT / "tools"))
import lock as locktool  # tools/ is not a package


def _pins(lines) -> dict[str, Version]:
    out = {}
    for line in lines:
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{line}: not an exact pin"
        out[canonicalize_name(req.name)] = Version(spec.version)
    return out


def _lock() -> dict[str, Version]:
    return _pins(locktool.pins(LOCK.read_text()))


def _env_pip() -> list[str]:
    deps = yaml.safe_load(ENV.read_text())["dependencies"]
    (pip,) = [d["pip"] for d in deps if isinstance(d, dict)]
    return pip


def _project_requirements():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in locktool.EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


@pytest.mark.fast
def test_library_declares_ranges_and_the_lock_pins_a_version_inside_each():
    lock = _lock()
    for req in _project_requirements():
        assert not any(s.operator in ("==", "===") for s in req.specifier), \
            f"pyproject.toml: {req} pins one version; declare a range (exact versions go in requirements.lock)"
        name = canonicalize_name(req.name)
        assert name in lock, f"requirements.lock lacks {req.name}: run `make lock`"
        assert req.specifier.contains(lock[name], prereleases=True), \
            f"requirements.lock has {req.name}=={lock[name]}, outside {req}: run `make lock`"


@pytest.mark.fast
def test_lock_fits_both_torch_builds():
    text = LOCK.read_text()
    assert "--hash" not in text, "the lock is meant to have no hashes (CPU and CUDA torch are different files)"
    torch = _lock()["torch"]
    assert torch.local is None, f"torch=={torch}: drop the build label so PyPI's CUDA build matches too"
    make = (ROOT / "Makefile").read_text()
    assert "-r requirements.lock" in make, "make setup installs from the lock"


@pytest.mark.fast
def test_the_venv_was_installed_from_the_lock():
    """Every locked package is installed at its pinned version (torch: any build of it)."""
    wrong = {}
    for name, want in _lock().items():
        try:
            got = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            wrong[name] = (str(want), "missing")
            continue
        if Version(got.public) != want:
            wrong[name] = (str(want), str(got))
    assert not wrong, f"installed versions differ from requirements.lock (run `make setup`): {wrong}"


@pytest.mark.fast
def test_env_pip_section_is_the_lock_and_names_no_path():
    pip = _env_pip()
    assert _pins(pip) == _lock(), "envs/skelvis.yaml's pip section differs from requirements.lock: run `make lock`"
    assert not [p for p in pip if p.startswith(("-", ".", "/")) or "/" in p], \
        "a path in the pip section resolves against wherever Snakemake copies the file"


def _conda_pip_file(tmp_path: Path) -> Path:
    """What conda does with the pip section: Snakemake copies the env file to
    <conda-prefix>/<hash>.yaml; conda writes the pip list to a requirements file beside it and runs
    pip there."""
    prefix = tmp_path / "elsewhere" / ".snakemake" / "conda"
    prefix.mkdir(parents=True)
    copy = prefix / "0123abcd.yaml"
    shutil.copy(ENV, copy)
    req = prefix / "condaenv.0123abcd.requirements.txt"
    deps = yaml.safe_load(copy.read_text())["dependencies"]
    req.write_text("\n".join(next(d["pip"] for d in deps if isinstance(d, dict))) + "\n")
    return req


@pytest.mark.slow
def test_env_pip_section_resolves_from_a_copy_in_another_folder_to_exactly_the_lock(tmp_path):
    """pip resolves a copied env file's pip section from scratch (--ignore-installed, nothing
    installed) and would install exactly the locked packages: none missing from the lock."""
    req = _conda_pip_file(tmp_path)
    report = tmp_path / "report.json"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--report", str(report), "-r", req.name],
                       cwd=req.parent, capture_output=True, text=True, timeout=900, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    would = {canonicalize_name(i["metadata"]["name"]): Version(Version(i["metadata"]["version"]).public)
             for i in json.loads(report.read_text())["install"]}
    assert would == _lock()


@pytest.mark.slow
def test_post_deploy_installs_this_checkout_from_a_copy(tmp_path):
    """As Snakemake does: a copy of the script at <conda-prefix>/<hash>.post-deploy.sh, run from the
    working directory inside the environment (here a fresh venv, `python` first on PATH)."""
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
                   check=True)
    # the new venv sees the test venv's packages (pip, setuptools) through a .pth file
    site = next((venv / "lib").glob("python3*/site-packages"))
    test_site = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_relative_to(sys.prefix))
    (site / "test_venv.pth").write_text(test_site + "\n")
    prefix = tmp_path / "conda-prefix"
    prefix.mkdir()
    script = prefix / "0123abcd.post-deploy.sh"
    shutil.copy(POST_DEPLOY, script)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{without_venv(os.environ['PATH'])}"}
    env.pop("VIRTUAL_ENV", None)
    env.pop("SKELVIS_SOURCE", None)
    p = subprocess.run(["bash", str(script)], cwd=workdir, env=env, capture_output=True, text=True, check=False)
    assert p.returncode != 0 and "SKELVIS_SOURCE" in p.stderr, "unset SKELVIS_SOURCE must stop with one line"
    env["SKELVIS_SOURCE"] = str(ROOT)
    p = subprocess.run(["bash", str(script)], cwd=workdir, env=env, capture_output=True, text=True,
                       timeout=600, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    show_url = ("import importlib.metadata as m, json; d = m.distribution('skelvis');"
                "print(json.loads(d.read_text('direct_url.json'))['url'])")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", show_url],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where == ROOT.as_uri(), f"skelvis installed from {where}, not from this checkout"


def test_common_smk_tells_post_deploy_where_the_checkout_is():
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    assert re.search(r'os\.environ\["SKELVIS_SOURCE"\] = str\(Path\(workflow\.basedir\)\.parent\)', common)
    assert "SKELVIS_SOURCE" in POST_DEPLOY.read_text()


@pytest.mark.slow
@pytest.mark.workflow
def test_notebooks_run_without_an_activated_venv(tiny_run, tmp_path):
    """`.venv/bin/snakemake` with the venv neither activated nor on PATH runs the notebook rules."""
    bare_path = without_venv(os.environ.get("PATH", ""))
    assert shutil.which("papermill", path=bare_path) is None, "papermill outside the venv: the test proves nothing"
    wd = tmp_path / "wf"
    shutil.copytree(tiny_run, wd, symlinks=True)
    notebooks = sorted(p.relative_to(wd) for p in wd.glob("results/*/reports/*.ipynb"))
    assert notebooks, "the tiny run wrote no notebook"
    for nb in notebooks:
        (wd / nb).unlink()
    p = run_snakemake(wd, "--configfile", "tests/configs/tiny.yaml", venv_on_path=False)
    assert sorted(p.relative_to(wd) for p in wd.glob("results/*/reports/*.ipynb")) == notebooks
    ran = set(re.findall(r"^(?:local)?rule (\w+):", p.stdout + p.stderr, flags=re.MULTILINE))
    assert ran and all(r.startswith("notebook_") or r == "all" for r in ran), ran
