"""Write a papermill template notebook from a list of cells (kept in notebooks/*.py sources).

Usage: python tools/make_notebook.py notebooks/src/01_data_and_model.py notebooks/01_data_and_model.ipynb
Cells in the source are separated by lines '# %%'; a cell starting with '# parameters' is tagged
'parameters'; '# %% [markdown]' starts a markdown cell (lines prefixed '# ').
"""
import sys

import nbformat


def build(src: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    chunks = src.split("# %%")
    for ch in chunks:
        if not ch.strip():
            continue
        if ch.startswith(" [markdown]"):
            body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in ch.split("\n")[1:]).strip()
            nb.cells.append(nbformat.v4.new_markdown_cell(body))
            continue
        body = ch.strip("\n")
        cell = nbformat.v4.new_code_cell(body)
        if body.lstrip().startswith("# parameters"):
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    return nb


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    nbformat.write(build(open(src).read()), dst)
