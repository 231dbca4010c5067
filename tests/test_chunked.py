"""Bounded memory in ``prepare`` and ``train`` (issue 16, item 2).

``prepare`` writes data.h5 a block of sequences at a time (:func:`prepare_to_file`): its arrays
equal the in-memory :func:`prepare_dataset`'s bit for bit, whatever the block size, for every
normalisation and when screening drops sequences.  ``train`` streams data.h5 in blocks when x is
larger than ``train.memory_budget_mb``: every training row once per epoch, in a seeded order
that changes between epochs, with a peak allocation that does not grow with N."""
from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

from skelvis.datasets import prepare as P
from skelvis.datasets.store import read_dataset, write_dataset
from skelvis.datasets.synthetic import SyntheticConfig, generate, generate_blocks
from skelvis.io import decode_attrs

pytestmark = pytest.mark.fast

SMALL = {"reader": "synthetic", "normalization": "ntu", "max_frames": 32,
         "synthetic": {"subjects": 4, "repetitions": 1, "frames": 24}}


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _assert_same_file(a, b):
    """Every dataset of two contract files equal (dtype, shape, bytes) and the same attrs."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert sorted(fa) == sorted(fb)
        for k in fa:
            x, y = fa[k][...], fb[k][...]
            assert (x.dtype, x.shape) == (y.dtype, y.shape), k
            if x.dtype == object:
                assert x.tolist() == y.tolist(), k
            else:
                assert x.tobytes() == y.tobytes(), k
        assert decode_attrs(fa.attrs) == decode_attrs(fb.attrs)


def test_generator_blocks_equal_the_whole_dataset():
    """Blocks of any size concatenate to generate()'s arrays: each sequence draws only from its own
    seeded streams, consumed in the same order."""
    cfg = SyntheticConfig(subjects=3, repetitions=2, frames=20, max_frames=24, seed=5)
    whole = generate(cfg)
    for block in (1, 7, 1000):
        blocks = list(generate_blocks(cfg, block))
        assert [len(b.x) for b in blocks[:-1]] == [block] * (len(blocks) - 1)
        for k in ("x", "length", "label", "subject", "split", "sample_id"):
            got = np.concatenate([getattr(b, k) for b in blocks])
            np.testing.assert_array_equal(got, getattr(whole, k))
            assert got.dtype.kind == getattr(whole, k).dtype.kind
        np.testing.assert_array_equal(np.concatenate([b.extra_arrays["shortcut_cue"] for b in blocks]),
                                      whole.extra_arrays["shortcut_cue"])
        assert all(b.extra_attrs == whole.extra_attrs for b in blocks)


@pytest.mark.parametrize("method", ["ntu", "zscore", "center", "none"])
def test_streamed_prepare_equals_in_memory(tmp_path, method):
    """52 sequences in blocks of 5 and 7 (neither divides 52) and the default: the same file contents
    as write_dataset(prepare_dataset(...)), and the same console summary."""
    cfg = dict(SMALL, normalization=method)
    ref = P.prepare_dataset("d", cfg, seed=1)
    write_dataset(ref, tmp_path / "ref.h5")
    assert len(ref.x) == 52
    for block in (5, 7, None):
        got = P.prepare_to_file("d", cfg, tmp_path / f"s{block}.h5", seed=1, block=block)
        _assert_same_file(tmp_path / "ref.h5", tmp_path / f"s{block}.h5")
        assert P.screening_summary(got) == P.screening_summary(ref)


def test_streamed_prepare_of_a_whole_reader_with_drops(tmp_path, monkeypatch):
    """A reader that is not a block reader is cut into blocks; screening drops sequences in several
    blocks (x is shrunk to the kept ones) and records caveats, as in memory."""
    def reader(name, cfg, raw, seed):
        ds = generate(SyntheticConfig(classes=("throw", "kick", "bow"), subjects=4, repetitions=2,
                                      frames=20, max_frames=24, seed=seed))
        ds.x[[1, 9, 10, 22]] = 0.0                           # nothing tracked: dropped
        ds.x[4, 2] = np.nan                                  # non-finite: dropped
        ds.x[6, 3] = ds.x[6, 2]                              # a repeated frame: kept with a caveat
        ds.name = name
        ds.extra_attrs["notes"] = ["from the reader"]
        return ds
    monkeypatch.setitem(P.READERS, "fake", reader)
    cfg = dict(SMALL, reader="fake", max_frames=24)
    ref = P.prepare_dataset("d", cfg, seed=2)
    write_dataset(ref, tmp_path / "ref.h5")
    assert len(ref.x) == 24 - 5 and ref.extra_attrs["caveats"]
    for block in (5, 24, None):
        got = P.prepare_to_file("d", cfg, tmp_path / f"s{block}.h5", seed=2, block=block)
        _assert_same_file(tmp_path / "ref.h5", tmp_path / f"s{block}.h5")
        assert P.screening_summary(got) == P.screening_summary(ref)
        assert read_dataset(tmp_path / f"s{block}.h5").x.shape == ref.x.shape


def test_streamed_prepare_memory_does_not_grow_with_n(tmp_path):
    """Peak allocation of the streamed prepare at 4x the sequences within 1.3x, and below the size
    of the 4x dataset's x (the in-memory path holds x whole)."""
    peaks = {}
    for reps in (2, 8):
        cfg = {"reader": "synthetic", "normalization": "ntu", "max_frames": 40,
               "synthetic": {"subjects": 4, "repetitions": reps, "frames": 30}}
        peaks[reps] = _peak(lambda cfg=cfg, reps=reps: P.prepare_to_file("d", cfg, tmp_path / f"d{reps}.h5",
                                                                          seed=0, block=16))
    x_bytes = 4 * 8 * 13 * 40 * 25 * 3 * 4
    assert peaks[8] < 1.3 * peaks[2] and peaks[8] < x_bytes, (peaks, x_bytes)
