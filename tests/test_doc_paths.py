"""Every file path that README.md and docs/*.md name exists in the repository.

Paths are taken from backticked spans, markdown links and fenced code blocks. A path under a
folder that a run or the set-up creates (results/, logs/, resources/, .snakemake/, .venv/) is
allowed; a pattern (`*`, `{wildcard}`, `<placeholder>`) inside the repository must match at least
one file; the few paths that lie outside the repository are listed in EXTERNAL with the reason.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast
ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# made by a run or by `make setup`, never committed
GENERATED = ("results/", "logs/", "resources/", ".snakemake/", ".venv/")
# named in the docs, deliberately not in the repository
EXTERNAL = {
    "../shared/data/msr_action3d": "the real MSR Action3D files lie beside the checkout",
    "path/to/model.h5": "placeholder for the user's own model file",
    "aAA_sSS_eEE_skeleton3D.txt": "the MSR Action3D file-name pattern",
    "data.h5": "results/{dataset}/data.h5, written by the prepare rule",
    "labels.csv": "a file of the user's own dataset folder",
    "dataset.yaml": "a file of the user's own dataset folder",
    "walk_002.csv": "a sample file of the user's own dataset folder (docs/own-data.md)",
    "confusion.csv": "results/{dataset}/model/{arch}/confusion.csv, written by the evaluate rule",
}
SUFFIXES = {".py", ".smk", ".yaml", ".yml", ".md", ".sh", ".toml", ".ipynb", ".rst", ".txt",
            ".lock", ".csv", ".h5", ".json", ".html", ".pt", ".tsv", ".cfg", ".in"}
PATTERN = re.compile(r"[*?]|\{[^}]*\}|<[^>]*>")


def _tokens(text: str):
    """Candidate path strings of one markdown text: backticks, link targets, code blocks."""
    out = []
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    for span in re.findall(r"`([^`\n]+)`", prose):
        out += span.split()
    out += re.findall(r"\]\(([^)\s#]+)", prose)
    for block in blocks:
        for line in block.splitlines():
            out += line.split()
    return out


def _is_path(tok: str) -> bool:
    if "://" in tok or "=" in tok or tok.startswith(("-", "$", "@")) or tok.endswith("/.."):
        return False
    if re.fullmatch(r"\.\w+", tok):  # an extension on its own (".csv")
        return False
    if "/" in tok:
        # a path, not prose like "x/y/z" or "PBS/LSF/SGE": a known suffix or a top-level name
        first = tok.split("/", 1)[0]
        return Path(tok.rstrip("/")).suffix in SUFFIXES or first in _top_level() or first in (
            "..", ".", *(g.rstrip("/") for g in GENERATED))
    return Path(tok).suffix in SUFFIXES


def _file_names() -> set[str]:
    """Names of the files in the repository (generated folders and .git skipped)."""
    skip = {".git", *(g.rstrip("/") for g in GENERATED), "__pycache__", ".pytest_cache"}
    names = set()
    for _, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip]
        names.update(files)
    return names


def _top_level():
    return {p.name for p in ROOT.iterdir()}


def doc_paths(text: str) -> list[str]:
    """Path-like tokens of ``text`` (trailing punctuation and surrounding brackets removed)."""
    paths = []
    for tok in _tokens(text):
        tok = tok.strip("()[],;:'\"").rstrip(".")
        if tok and _is_path(tok) and not PATTERN.match(tok):  # "{arch}/metrics.json": a fragment
            paths.append(tok)
    return paths


def missing_paths(doc: Path, text: str | None = None) -> list[str]:
    """The paths ``doc`` names that do not exist (relative to the repository or to the doc)."""
    text = doc.read_text() if text is None else text
    names = _file_names()
    bad = []
    for path in doc_paths(text):
        if path in EXTERNAL or path.startswith(GENERATED):
            continue
        if "/" not in path:  # a bare file name: some file of that name is in the repository
            if path not in names:
                bad.append(path)
            continue
        bases = [ROOT] if doc.parent == ROOT else [ROOT, doc.parent]
        if PATTERN.search(path):
            glob = PATTERN.sub("*", path.rstrip("/"))
            if not any(any(b.glob(glob)) for b in bases):
                bad.append(path)
        elif not any((b / path).exists() for b in bases):
            bad.append(path)
    return bad


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_path_a_doc_names_exists(doc):
    assert missing_paths(doc) == [], f"{doc.relative_to(ROOT)} names paths that do not exist"


def test_the_checker_finds_a_missing_path_in_each_kind_of_mention():
    text = ("See `workflow/rules/nothing.smk`, [the design](docs/no_such.md) and\n"
            "```\nscripts/absent.py   results/{dataset}/x.h5\nnotebooks/src/*.nope\n```\n"
            "and `NOT_HERE.md`, but `workflow/Snakefile`, `results/x/y.h5` and `x/y/z` are fine.")
    assert sorted(missing_paths(ROOT / "README.md", text)) == sorted([
        "workflow/rules/nothing.smk", "docs/no_such.md", "NOT_HERE.md",
        "scripts/absent.py", "notebooks/src/*.nope"])


def test_every_external_exception_is_still_named():
    named = set()
    for doc in DOCS:
        named |= set(doc_paths(doc.read_text()))
    assert set(EXTERNAL) <= named, f"drop stale entries: {sorted(set(EXTERNAL) - named)}"
