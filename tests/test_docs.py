"""The README's first lines and its configuration table stay true."""
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))


def test_readme_starts_with_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:12])
    assert "make run" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_config_table_matches_the_schema():
    import config_table

    readme = (ROOT / "README.md").read_text()
    assert config_table.readme_block(readme) == config_table.table(), \
        "README config table is stale: run `python tools/config_table.py --write`"


def test_notebooks_match_their_sources():
    """notebooks/*.ipynb are notebooks/src/*.py (jupytext percent format) converted by jupytext
    (make notebooks): same cells, same tags, one 'parameters' cell, no outputs; no notebook without
    a source and no source without a notebook."""
    import jupytext
    import nbformat

    sources = sorted((ROOT / "notebooks" / "src").glob("*.py"))
    assert {p.stem for p in sources} == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    for src in sources:
        nb = nbformat.read(ROOT / "notebooks" / f"{src.stem}.ipynb", as_version=4)
        built = jupytext.read(src, fmt="py:percent")
        cells = [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]
        assert cells == [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in built.cells], \
            f"notebooks/{src.stem}.ipynb differs from {src.name}: run `make notebooks`"
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{src.name}: needs exactly one cell tagged 'parameters'"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
