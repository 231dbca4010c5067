"""One reader beside each writer: every results reader turns a missing, foreign or truncated file
into one DataFormatError naming the file and the rule that remakes it (skelvis.io)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from skelvis import activations, autoencoder, evaluate, faithfulness, maximize, periods, saliency
from skelvis.datasets.store import Dataset, read_dataset, write_dataset
from skelvis.errors import DataFormatError
from skelvis.io import atomic_path

pytestmark = pytest.mark.fast

#: reader, the rule its fix names, the file kind (h5, json, csv)
READERS = [
    (read_dataset, "prepare", "h5"),
    (evaluate.read_predictions, "evaluate", "h5"),
    (saliency.read_saliency, "saliency", "h5"),
    (maximize.read_maximization, "maximize", "h5"),
    (activations.read_activations, "activations", "h5"),
    (autoencoder.read_paths, "autoencoder", "h5"),
    (periods.read_periods, "periods", "h5"),
    (faithfulness.read_faithfulness, "faithfulness", "json"),
    (evaluate.read_metrics, "train", "json"),
    (autoencoder.read_quality, "autoencoder", "json"),
    (evaluate.read_confusion, "evaluate", "csv"),
    (evaluate.read_history, "train", "csv"),
    (maximize.read_comparison, "maximize_comparison", "csv"),
    (maximize.read_comparison_runs, "maximize_comparison", "h5"),
]
IDS = [r[0].__module__.split(".")[-1] + "." + r[0].__name__ for r in READERS]


def _ds(n=4):
    rng = np.random.default_rng(0)
    return Dataset(x=rng.normal(size=(n, 5, 25, 3)).astype(np.float32), length=np.full(n, 5, np.int32),
                   label=np.arange(n, dtype=np.int32) % 2, subject=np.arange(n, dtype=np.int32),
                   split=np.array([0, 1, 2, 2][:n], np.int8), sample_id=np.array([f"s{i}" for i in range(n)]),
                   classes=["a", "b"], topology="kinect_v2", name="t")


@pytest.mark.parametrize("reader, rule, kind", READERS, ids=IDS)
def test_missing_file_names_the_rule_that_makes_it(tmp_path, reader, rule, kind):
    with pytest.raises(DataFormatError, match=rf"nothere\.{kind}: file not found; run the '{rule}' rule first"):
        reader(tmp_path / f"nothere.{kind}")


@pytest.mark.parametrize("reader, rule, kind", READERS, ids=IDS)
def test_unreadable_file_is_one_line_naming_file_and_fix(tmp_path, reader, rule, kind):
    """Bytes that are not the format at all (here: half an HDF5 file, which is neither valid
    HDF5 nor text): one line naming the file and 'delete it and run the <rule> rule again'."""
    write_dataset(_ds(), tmp_path / "d.h5")
    data = (tmp_path / "d.h5").read_bytes()
    bad = tmp_path / f"bad.{kind}"
    bad.write_bytes(data[: len(data) // 2] if kind == "h5" else b"\x89HDF\r\n\x1a\n\x00\xff\xfe garbage")
    with pytest.raises(DataFormatError) as e:
        reader(bad)
    msg = str(e.value)
    assert msg.startswith(f"{bad}: ") and "\n" not in msg, msg
    assert f"delete it and run the '{rule}' rule again" in msg, msg


@pytest.mark.parametrize("reader, rule, kind", [r for r in READERS if r[0] is not read_dataset],
                         ids=[i for i, r in zip(IDS, READERS) if r[0] is not read_dataset])
def test_a_valid_file_of_another_stage_is_refused(tmp_path, reader, rule, kind):
    """A well-formed file of the wrong kind (data.h5 given to the saliency reader, a metrics file
    to the faithfulness reader ...): what is missing, and the rule to run."""
    foreign = tmp_path / f"other.{kind}"
    if kind == "h5":
        write_dataset(_ds(), foreign)
    elif kind == "json":
        foreign.write_text(json.dumps({"something": "else"}))
    else:
        foreign.write_text("x,y\n1,2\n3,4\n")
    with pytest.raises(DataFormatError, match=rf"other\.{kind}: .*(missing|not a).*'{rule}' rule again"):
        reader(foreign)


def test_json_and_csv_round_trips(tmp_path):
    evaluate.write_metrics(tmp_path / "m.json", {"train": 0.5}, {"cell": "lstm"}, "d.h5", best_epoch=2, epochs=3,
                           train_seconds=1.5, imported_from="x.h5")
    m = evaluate.read_metrics(tmp_path / "m.json")
    assert m["accuracy"] == {"train": 0.5} and m["best_epoch"] == 2 and m["imported_from"] == "x.h5"
    rows = [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}]
    evaluate.write_history(tmp_path / "h.csv", rows)
    assert evaluate.read_history(tmp_path / "h.csv")["train_loss"].tolist() == [0.5, 0.25]
    ds = _ds()
    ev = evaluate.Evaluation(logits=np.eye(2, dtype=np.float32)[[0, 1, 1, 0]], predicted=np.array([0, 1, 1, 0], np.int32))
    written = evaluate.write_confusion(ev, ds, tmp_path / "c.csv", split="test")
    back = evaluate.read_confusion(tmp_path / "c.csv")
    assert back.values.tolist() == written.values.tolist() and list(back.columns) == ["a", "b"]
    faithfulness.write_faithfulness({"split": "held_out", "n": 2, "mass_share": None, "deletion": {"k": [0]}},
                                    tmp_path / "f.json", model="m.pt")
    assert faithfulness.read_faithfulness(tmp_path / "f.json")["model"] == "m.pt"


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
