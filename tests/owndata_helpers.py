"""Builders of generic-format folders for the own-data tests (docs/own-data.md's format)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from skelvis.datasets.generic import write_generic
from skelvis.datasets.synthetic import SyntheticConfig, generate
from skelvis.normalize import resample
from skelvis.topology import KINECT_V1, kinect_v2_index


def to_kinect_v1(seq: np.ndarray) -> np.ndarray:
    """(T, 25, 3) Kinect v2 joints -> (T, 20, 3) in Kinect v1 order."""
    return seq[:, kinect_v2_index(KINECT_V1)]


def own_dataset(folder: Path, classes=("throw", "hand_waving", "jump_up"), subjects: int = 6,
                test_subjects=(4, 5), long_frames: int = 300) -> Path:
    """A Kinect v1 (20-joint) dataset with train and test splits only, one-frame sequences and
    one ``long_frames``-frame sequence, written in the generic layout; returns ``folder``."""
    d = generate(SyntheticConfig(classes=tuple(classes), subjects=subjects, repetitions=2, frames=24,
                                 max_frames=40, seed=0))
    samples, labels = {}, []
    for i in range(len(d.x)):
        name = f"{d.classes[d.label[i]]}_s{d.subject[i]}_{i:03d}"
        samples[name] = to_kinect_v1(d.x[i, :d.length[i]])
        labels.append({"sample": name, "label": d.classes[d.label[i]], "subject": int(d.subject[i]) + 1,
                       "split": "test" if d.subject[i] in test_subjects else "train"})
    first_train = next(r for r in labels if r["split"] == "train")
    first_test = next(r for r in labels if r["split"] == "test")
    for r, name in ((first_train, "one_frame_train"), (first_test, "one_frame_test")):
        samples[name] = samples[r["sample"]][:1]
        labels.append(dict(r, sample=name))
    samples["long_test"] = resample(samples[first_test["sample"]], long_frames)
    labels.append(dict(first_test, sample="long_test"))
    return write_generic(folder, samples, labels, "kinect_v1", fps=30)
