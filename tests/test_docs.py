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
    """notebooks/*.ipynb are built from notebooks/src/*.py (make notebooks)."""
    import make_notebook
    import nbformat

    for src in sorted((ROOT / "notebooks" / "src").glob("*.py")):
        nb = nbformat.read(ROOT / "notebooks" / f"{src.stem}.ipynb", as_version=4)
        built = make_notebook.build(src.read_text())
        assert [c.source for c in nb.cells] == [c.source for c in built.cells], src.name
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{src.name}: needs exactly one cell tagged 'parameters'"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
