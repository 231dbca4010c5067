"""The package's layers can be seen and checked: the import-linter contracts in pyproject.toml
hold, they catch an upward import, and no import hides inside a function to dodge a cycle."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast
ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"
#: (file, module) imports allowed inside a function, each with its reason
LAZY_OK = {("config.py", "jsonschema"),  # only the workflow extra installs jsonschema
           ("common.py", "IPython.display")}  # plots show figures inline only inside a notebook kernel


def _lint(cwd: Path, src: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(src))
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_import_contracts_are_kept():
    p = _lint(ROOT, ROOT / "src")
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "0 broken" in p.stdout


@pytest.mark.parametrize("module, line", [
    ("models.py", "from .train import train_classifier\n"),          # models -> analyses: upward
    ("saliency.py", "from .maximize import Target\n"),               # one analysis -> another
    ("io.py", "from .datasets.store import Dataset\n"),              # core -> datasets
])
def test_contracts_catch_a_forbidden_import(tmp_path, module, line):
    shutil.copytree(ROOT / "src" / "skelvis", tmp_path / "src" / "skelvis",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "skelvis" / module
    target.write_text(target.read_text() + "\n" + line)
    p = _lint(tmp_path, tmp_path / "src")
    assert p.returncode != 0 and "BROKEN" in p.stdout, p.stdout[-3000:]


def test_no_imports_inside_functions():
    found = []
    for path in sorted((ROOT / "src" / "skelvis").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = ["." * node.level + (node.module or "")]
                else:
                    continue
                for name in names:
                    if (path.name, name) not in LAZY_OK:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name} in {fn.name}()")
    assert not found, "imports inside functions (move them to the top, or fix the layering):\n" + "\n".join(found)
