"""`snakemake --report` on the tiny run: every figure of every stage, with its caption, grouped by
stage and dataset, and the SkeletonVis page linked."""
from __future__ import annotations

import base64
import json
import re

import pytest
from conftest import ROOT, run_snakemake

STAGE_CATEGORY = re.compile(r"^\d+\. \S")


def _js_object(html: str, name: str) -> dict:
    """The JSON literal assigned to ``var <name> = ...;`` (one line) in the report page."""
    m = re.search(rf"^\s*var {name} = (\{{.*\}});\s*$", html, re.MULTILINE)
    assert m, f"report has no 'var {name}'"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def report(tiny_run):
    run_snakemake(tiny_run, "--configfile", "tests/configs/tiny.yaml", "--report", "results/report.html")
    html = (tiny_run / "results" / "report.html").read_text()
    return {"dir": tiny_run, "html": html, "results": _js_object(html, "results"),
            "categories": _js_object(html, "categories")}


@pytest.mark.slow
@pytest.mark.workflow
def test_every_figure_is_in_the_report_with_a_caption(report):
    wd, results, categories = report["dir"], report["results"], report["categories"]
    pngs = sorted(str(p.relative_to(wd)) for p in (wd / "results").glob("*/figures/**/*.png"))
    assert pngs, "the tiny run made no figures"
    listed = {p for sub in categories.values() for paths in sub.values() for p in paths}
    missing = [p for p in pngs if p not in results or p not in listed]
    assert not missing, f"figures not registered with report(): {missing}"
    for p in pngs:
        cap = results[p]["caption"]
        assert cap.strip() and "{{" not in cap and "snakemake." not in cap, (p, cap)
        # docutils renders reStructuredText errors (e.g. |x| read as a substitution) into the caption
        assert "system-message" not in cap and "System Message" not in cap, (p, cap)
        assert results[p]["mime_type"] == "image/png"
        # the embedded image is the file on disk
        data = results[p]["data_uri"].split(",", 1)[1]
        assert base64.b64decode(data) == (wd / p).read_bytes(), p


@pytest.mark.slow
@pytest.mark.workflow
def test_report_is_grouped_by_stage_and_dataset(report):
    categories, results = report["categories"], report["results"]
    for cat, sub in categories.items():
        assert STAGE_CATEGORY.match(cat) or cat in ("SkeletonVis", "Notebooks"), \
            f"category {cat!r} is neither 'N. Stage' nor SkeletonVis nor Notebooks"
        for dataset, paths in sub.items():
            assert dataset == "tiny", (cat, dataset)
            assert all(p.startswith(f"results/{dataset}/") for p in paths)
    # a category is named as its notebook (and, for stages 2-5, its plots module and rule)
    for cat in categories:
        if cat in ("SkeletonVis", "Notebooks"):
            continue
        number, name = cat.split(". ", 1)
        assert (ROOT / "notebooks" / f"{int(number):02d}_{name}.ipynb").exists(), cat
        if 2 <= int(number) <= 5:
            assert (ROOT / "src" / "skelvis" / "plots" / f"{name}.py").exists(), cat
            assert f"rule notebook_{name}:" in (ROOT / "workflow" / "rules" / f"{name}.smk").read_text(), cat
    nb01 = categories["1. data_and_model"]["tiny"]
    for name in ("summary", "skeletons", "training", "confusion"):
        path = f"results/tiny/figures/lstm/01_{name}.png"
        assert path in nb01
        assert results[path]["labels"] == {"dataset": "tiny", "model": "lstm", "figure": name}
    # captions are rendered with the job's wildcards
    assert "dataset tiny and model lstm" in results["results/tiny/figures/lstm/01_summary.png"]["caption"]
    # stage numbers are unique (one category per stage)
    numbers = [int(c.split(".")[0]) for c in categories if STAGE_CATEGORY.match(c)]
    assert len(numbers) == len(set(numbers))


@pytest.mark.slow
@pytest.mark.workflow
def test_report_links_the_viewer_and_has_the_intro(report):
    wd, results, categories, html = report["dir"], report["results"], report["categories"], report["html"]
    page = "results/tiny/skelvis_lstm.html"
    assert categories["SkeletonVis"]["tiny"] == [page]
    entry = results[page]
    assert entry["mime_type"] == "text/html"
    assert "SkeletonVis" in entry["caption"] and "offline" in entry["caption"]
    assert base64.b64decode(entry["data_uri"].split(",", 1)[1]) == (wd / page).read_bytes()
    # the report's landing page text (workflow/report/workflow.rst), rendered with the config
    assert "The results are grouped by stage" in html and "datasets: tiny" in html


@pytest.mark.slow
@pytest.mark.workflow
def test_report_links_an_html_rendering_of_every_executed_notebook(report):
    wd, categories, results = report["dir"], report["categories"], report["results"]
    executed = sorted(str(p.relative_to(wd)) for p in (wd / "results/tiny/reports").glob("*.ipynb"))
    assert executed
    listed = set(categories["Notebooks"]["tiny"])
    for nb in executed:
        html = nb[: -len(".ipynb")] + ".html"
        assert html in listed and html in results, html
        cap = results[html]["caption"]
        assert "{{" not in cap and "system-message" not in cap, cap
