"""Users' own data as it comes: one report of every problem in a generic folder (prepare and
skelvis-check), what preparation drops or keeps with a caveat, damaged stage files found before
scheduling, a lock left by a killed snakemake, and model selection without a validation split."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from owndata_helpers import own_dataset

from skelvis import runlock
from skelvis.datasets.generic import check_folder, write_generic
from skelvis.datasets.prepare import prepare_dataset, screening_summary
from skelvis.datasets.store import Dataset, read_dataset, write_dataset
from skelvis.errors import DamagedInput, DatasetProblems
from skelvis.inputs import check_data_file, check_model_file
from skelvis.train import TrainConfig, selection_split, train_classifier

pytestmark = pytest.mark.fast

SKELVIS_CHECK = os.path.join(os.path.dirname(sys.executable), "skelvis-check")


def faulty_folder(root):
    """A Kinect v1 folder with six different faults, and sequences that are only dropped or kept
    with a caveat. Returns (folder, the faults as (file, fragment of the message))."""
    rng = np.random.default_rng(0)
    samples = {f"s{i}": rng.normal(0, 0.1, (12, 20, 3)).astype(np.float32) for i in range(8)}
    samples["s1"][3, 2, 1] = np.nan                     # dropped: non-finite
    samples["s2"] = samples["s2"][:1]                   # kept: one frame
    samples["s3"][5] = samples["s3"][4]                 # kept: a repeated frame
    labels = [{"sample": k, "label": ["wave", "kick"][i % 2], "subject": i % 4, "split": "train"}
              for i, k in enumerate(samples)]
    labels += [{"sample": "ghost", "label": "wave", "subject": 1, "split": "train"},     # no file
               {"sample": "s9", "label": "kick", "subject": "x", "split": "train"},      # subject not an int
               {"sample": "s10", "label": "kick", "subject": 2, "split": "trian"}]       # unknown split
    folder = write_generic(root / "my_recordings", samples, labels, "kinect_v1")
    (folder / "s4.npy").write_bytes(b"")                                          # empty file
    np.save(folder / "s5.npy", np.zeros((5, 25, 3), np.float32))                 # 25 joints, not 20
    (folder / "s6.npy").unlink()
    (folder / "s6.csv").write_text("1,2,3\n")                                      # 3 values a row, not 60
    faults = [("labels.csv:10", "'ghost' has no file"), ("labels.csv:11", "subject 'x' is not an integer"),
              ("labels.csv:12", "split 'trian'"), ("s4.npy", "empty file"), ("s5.npy", "shape (5, 25, 3)"),
              ("s6.csv:1", "3 values, expected J*C = 60")]
    return folder, faults


def test_one_check_lists_every_fault(tmp_path):
    folder, faults = faulty_folder(tmp_path)
    with pytest.raises(DatasetProblems) as err:
        prepare_dataset("mine", {"reader": "generic", "source": "local", "path": str(folder)}, str(tmp_path))
    msg = str(err.value)
    assert f"{len(faults)} problems" in msg, msg
    for where, what in faults:
        line = next((ln for ln in msg.splitlines() if f"{folder}/{where}" in ln), None)
        assert line is not None and what in line, (where, msg)
    # the command-line check reports the same list without the workflow, and fails
    p = subprocess.run([SKELVIS_CHECK, str(folder)], capture_output=True, text=True, check=False)
    assert p.returncode == 1
    for where, what in faults:
        assert f"{folder}/{where}" in p.stdout and what in p.stdout, p.stdout


def test_user_folder_is_read_in_place(tmp_path):
    """Messages name the user's folder, not the link the source rule makes under resources/."""
    folder, _ = faulty_folder(tmp_path)
    staged = tmp_path / "resources/mine/raw"
    staged.mkdir(parents=True)
    (staged / folder.name).symlink_to(folder.resolve(), target_is_directory=True)
    with pytest.raises(DatasetProblems) as err:
        prepare_dataset("mine", {"reader": "generic", "source": "local", "path": str(folder)}, str(staged))
    assert "resources/" not in str(err.value) and f"{folder}/s4.npy" in str(err.value)


def test_drops_and_caveats_are_summarised_and_stored(tmp_path):
    rng = np.random.default_rng(1)
    samples = {f"s{i}": rng.normal(0, 0.1, (10, 20, 3)).astype(np.float32) for i in range(6)}
    samples["s1"][2, 0, 0] = np.inf          # dropped
    samples["s2"][:] = 0.0                   # dropped
    samples["s3"] = samples["s3"][:1]        # one frame
    samples["s4"][[3, 4]] = samples["s4"][2]  # two repeated frames
    samples["s5"][0] = 0.0                   # one untracked frame
    labels = [{"sample": k, "label": "a" if i % 2 else "b", "subject": i, "split": "train"} for i, k in enumerate(samples)]
    folder = write_generic(tmp_path / "d", samples, labels, "kinect_v1")
    ds = prepare_dataset("d", {"reader": "generic", "normalization": "none", "max_frames": 16}, str(folder))
    assert list(ds.sample_id) == ["s0", "s3", "s4", "s5"]
    write_dataset(ds, tmp_path / "data.h5")
    with h5py.File(tmp_path / "data.h5") as f:
        excluded, caveats = json.loads(f.attrs["excluded"]), json.loads(f.attrs["caveats"])
    assert {(e["sample_id"], e["reason"]) for e in excluded} == {("s1", "non-finite values"), ("s2", "all-zero joints")}
    assert {(c["sample_id"], c["kind"], c["frames"]) for c in caveats} == {
        ("s3", "one_frame", 1), ("s4", "repeated_frames", 2), ("s5", "zero_frames", 1)}
    text = screening_summary(read_dataset(tmp_path / "data.h5"))   # from the stored attrs
    for fragment in ("4 sequences kept", "dropped 2", "non-finite values: s1", "all-zero joints: s2",
                     "one frame only", "s4 (2)", "s5 (1)", "no validation split"):
        assert fragment in text, text


def test_check_reports_no_problem_for_a_good_folder(tmp_path):
    folder = own_dataset(tmp_path / "own", subjects=3, test_subjects=(2,), long_frames=120)
    chk = check_folder(folder, "own", max_frames=None)
    assert not chk.problems and chk.dataset is not None
    assert sorted(set(chk.dataset.split.tolist())) == [0, 2]
    assert chk.dataset.length.min() == 1 and chk.dataset.length.max() == 120 and chk.dataset.x.shape[2] == 20
    p = subprocess.run([SKELVIS_CHECK, str(folder), "--max-frames", "64"], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "no problems" in p.stdout and "one_frame_train, one_frame_test" in p.stdout
    assert "longer than max_frames = 64 were subsampled" in p.stdout


# -- damaged stage files are found before scheduling ------------------------------------------------

def _tiny_dataset(name="tiny"):
    rng = np.random.default_rng(0)
    return Dataset(x=rng.normal(size=(6, 5, 20, 3)).astype(np.float32), length=np.full(6, 5, np.int32),
                   label=np.arange(6, dtype=np.int32) % 2, subject=np.arange(6, dtype=np.int32),
                   split=np.zeros(6, np.int8), sample_id=np.array([f"s{i}" for i in range(6)]),
                   classes=["a", "b"], topology="kinect_v1", name=name)


def test_damaged_or_foreign_inputs_are_named_with_the_fix(tmp_path):
    good = tmp_path / "data.h5"
    write_dataset(_tiny_dataset(), good)
    check_data_file(good, "tiny")                                   # intact: no error
    data = good.read_bytes()
    bad = tmp_path / "bad" / "data.h5"
    bad.parent.mkdir()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DamagedInput, match=r"bad/data.h5: not a readable HDF5 file .*Nothing was deleted\. rm it"):
        check_data_file(bad, "tiny", fix="rm it")
    with pytest.raises(DamagedInput, match=r"holds dataset 'tiny', not 'other'"):
        check_data_file(good, "other")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DamagedInput, match=r"not a skelvis data file"):
        check_data_file(tmp_path / "foreign.h5", "tiny")
    model = tmp_path / "m.pt"
    torch.save({"w": torch.arange(1000.0)}, model)
    check_model_file(model)
    model.write_bytes(model.read_bytes()[:-100])
    with pytest.raises(DamagedInput, match=r"m.pt: not a complete model file"):
        check_model_file(model)
    check_data_file(tmp_path / "absent.h5", "tiny")                 # not there yet: prepare makes it


# -- the lock of a killed snakemake ------------------------------------------------------------------

def test_stale_lock_is_removed_only_when_its_holder_is_gone(tmp_path):
    locks = tmp_path / ".snakemake/locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("results/x\n")
    # a live snakemake holds it: left alone
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "snakemake"])
    try:
        runlock.record_holder(tmp_path, pid=live.pid)
        assert runlock.clear_stale_lock(tmp_path) is None and (locks / "0.output.lock").exists()
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait()
    # killed: the lock goes, with one line saying so
    line = runlock.clear_stale_lock(tmp_path)
    assert line and f"pid {live.pid}" in line and "--unlock" in line
    assert not locks.exists() and not list((tmp_path / ".snakemake/skelvis_lock_holders").iterdir())
    # a lock nobody recorded (another tool, an older run) is left to snakemake's own message
    locks.mkdir()
    (locks / "0.input.lock").write_text("x\n")
    assert runlock.clear_stale_lock(tmp_path) is None and locks.exists()


# -- model selection without a validation split ----------------------------------------------------

def test_selection_without_validation(tmp_path):
    ds = _tiny_dataset()
    ds.label = np.array([0, 0, 0, 1, 1, 1], np.int32)
    tr, sel, how = selection_split(ds)
    assert tr.all() and not sel.any() and how.startswith("last epoch")
    tr, sel, how = selection_split(ds, 0.34, seed=0)
    assert sel.sum() == 2 and set(ds.label[sel]) == {0, 1} and not (tr & sel).any() and (tr | sel).all()
    assert "held out" in how
    spec = {"cell": "lstm", "hidden_size": 4, "num_layers": 1}
    cfg = TrainConfig(epochs=3, batch_size=4, lr=0.01, lr_decay_epochs=2, seed=0)
    model, hist = train_classifier(ds, spec, cfg, checkpoint=tmp_path / "ck.pt", progress=False)
    assert model.meta["best_epoch"] == 3 and "validation_accuracy" not in hist[-1]
    # the checkpoint belongs to its data: other data with the same shapes are trained afresh
    other = _tiny_dataset()
    other.x = other.x + 1.0
    _, hist2 = train_classifier(other, spec, cfg, checkpoint=tmp_path / "ck.pt", progress=False)
    assert [r["train_loss"] for r in hist2] != [r["train_loss"] for r in hist]


# -- case-study classes by name, else by a stated rule ----------------------------------------------

def test_case_study_classes_by_name_then_rule():
    from skelvis.case_study import case_study_classes, find_class, named_pair
    assert find_class(["drop", "throw", "kicking something"], "kick") == 2          # NTU's name
    assert find_class(["high throw", "forward kick", "pick up & throw"], "throw") == 0  # MSR's
    assert find_class(["Hand Waving"], "hand_waving") == 0 and find_class(["bow"], "kick") is None
    cm = np.array([[5, 1, 0], [3, 2, 0], [0, 0, 4]])            # recall 0.83, 0.4, 1.0
    chosen, note = case_study_classes(["throw", "wave", "jump"], ["throw", "kick"], cm)
    assert chosen == [0, 1] and "'kick' is not in this dataset: wave instead (the most confused class)" == note
    chosen, note = case_study_classes(["a", "b", "c"], ["throw", "kick"], cm)
    assert chosen == [1, 2] and "the most confused class" in note and "c instead (the least confused class)" in note
    assert case_study_classes(["kick", "throw"], ["throw", "kick"], cm[:2, :2]) == ([1, 0], "")
    assert named_pair(["sweeping", "x", "mopping"], ["mopping", "sweeping"]) == (2, 0)
    assert named_pair(["sweeping", "x"], ["mopping", "sweeping"]) is None
    # the synthetic generator's verbs are the paper's gerunds (Fig. 6: mopping vs sweeping)
    assert named_pair(["throw", "sweep", "mop"], ["mopping", "sweeping"]) == (2, 1)
    assert find_class(["hand_waving", "clap"], "hand waves") == 0 and find_class(["kiss"], "kissing") == 0
    assert find_class(["sit"], "sitting") == 0 and find_class(["bow"], "bowling") is None


def test_figures_say_when_they_have_nothing_to_show():
    from skelvis.plots import hidden_states as hs
    from skelvis.plots import maximize as mp
    P = {"path": np.zeros((4, 3, 2), np.float32), "length": np.array([3, 1, 3, 2]), "label": np.array([0, 1, 0, 1]),
         "predicted": np.array([0, 0, 0, 1]), "split": np.array([0, 0, 2, 2], np.int8), "classes": ["a", "b"]}
    P.update({k: P["path"] for k in ("display", "code")})
    fig = hs.misclassified_figure(P, "validation")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no validation split" in t and "train 2, validation 0, test 2" in t for t in texts), texts
    entries = [{"target_kind": "class", "target": "jump up"}, {"target_kind": "class", "target": "bow"},
               {"target_kind": "class", "target": "bow"}, {"target_kind": "unit", "target": "unit 3"}]
    assert mp.fig5_class(entries, "throw") == ("bow", ("'throw' is not in this dataset: bow instead "
                                                      "(the first class with the most sequences)"))
    assert mp.fig5_class(entries, "jump_up") == ("jump up", "")


# -- docs/own-data.md says what the code does --------------------------------------------------------

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "own-data.md")


def test_own_data_page_lists_every_topology_in_its_order_with_a_figure():
    from skelvis.topology import TOPOLOGIES
    text = Path(DOC).read_text()
    for name, topo in TOPOLOGIES.items():
        assert " · ".join(f"{i} {j}" for i, j in enumerate(topo.joints)) in text, name
        png = os.path.join(os.path.dirname(DOC), "figures", f"topology_{name}.png")
        assert f"(figures/topology_{name}.png)" in text and os.path.getsize(png) < 100_000


@pytest.mark.realdata
def test_worked_example_converts_msr_action3d(shared_data, tmp_path):
    """The conversion script in docs/own-data.md, run on the real MSR Action3D files, gives a
    folder that passes the checks with the numbers the page shows."""
    import re
    script = os.path.join(os.path.dirname(DOC), "examples", "convert_msr.py")
    code = re.search(r"```python\n(\"\"\"MSR Action3D.*?)```", Path(DOC).read_text(), re.DOTALL).group(1)
    assert code == Path(script).read_text(), "the page shows another script than docs/examples/convert_msr.py"
    subprocess.run([sys.executable, script, str(shared_data / "msr_action3d"), "my_msr"], cwd=tmp_path, check=True)
    p = subprocess.run([SKELVIS_CHECK, "my_msr", "--max-frames", "40"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout
    shown = re.search(r"\$ skelvis-check my_msr --max-frames 40\n(.*?)```", Path(DOC).read_text(), re.DOTALL).group(1)
    assert p.stdout == shown


def test_workflow_keys_pass_through_to_the_reader(tmp_path):
    """The prepare rule adds `_downloads` to the data section (extra downloads, e.g. NTU's missing
    list); it is not a config key the user could misspell, so it must not be refused."""
    folder = own_dataset(tmp_path / "own", subjects=3, test_subjects=(2,), long_frames=50)
    ds = prepare_dataset("own", {"reader": "generic", "source": "local", "path": str(folder), "_downloads": {}},
                         str(folder))
    assert ds.x.shape[2] == 20
