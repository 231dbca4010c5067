"""NTU RGB+D reader: skelvis' fast reader vs a straightforward line-by-line Python reader.

All read the same files (the ten real NTU files in ../shared/data/ntu_rgbd_samples when
present, five of them CRLF and one two-person; otherwise generated files of the same shape) and
must give identical arrays. Reports the best time over 7 interleaved rounds for the whole set
(interleaved so that every reader sees the same load on a shared machine), the speed-ups (best
vs best, and the median of the per-round ratios), and the peak Python heap (tracemalloc) while
reading all files.
Usage: python benchmarks/bench_ntu_reader.py  ->  results/bench/ntu_reader.json
"""
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import best_time, write_result

from skelvis.datasets.ntu import read_skeleton, read_skeleton_naive, read_skeletons

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ntu_rgbd_samples"


def _generated(folder: Path, n: int = 10):
    rng = np.random.default_rng(0)
    for i in range(n):
        out = ["100"]
        for f in range(100):
            nb = 1 + (i == 0)
            out.append(str(nb))
            for b in range(nb):
                out += [f"7205759403793{i}{b} 0 1 1 1 1 0 0.01 0.02 2", "25"]
                out += [" ".join(f"{v:.7g}" for v in rng.normal(size=3)) + " 277.4 191.8 1036.2 519.1 -0.2 0.05 0.96 -0.12 2"
                        for _ in range(25)]
        (folder / f"S001C001P001R001A{i + 1:03d}.skeleton").write_text("\n".join(out) + "\n")
    return sorted(folder.glob("*.skeleton"))


_BODY_KEYS = ("bodyID", "clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
              "handRightState", "isResticted", "leanX", "leanY", "trackingState")
_JOINT_KEYS = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW", "orientationX",
               "orientationY", "orientationZ", "trackingState")


def read_straightforward(path):
    """The straightforward reader most NTU code bases use (the dataset's reference reader as ported
    to Python in ST-GCN/2s-AGCN): line by line, every field into a dict, then x y z gathered."""
    with open(path, "r") as f:
        seq = {"numFrame": int(f.readline()), "frameInfo": []}
        for _ in range(seq["numFrame"]):
            frame = {"numBody": int(f.readline()), "bodyInfo": []}
            for _ in range(frame["numBody"]):
                vals = f.readline().split()
                body = {k: float(v) for k, v in zip(_BODY_KEYS, vals)}
                body["bodyID"] = int(vals[0])
                body["numJoint"] = int(f.readline())
                body["jointInfo"] = [{k: float(v) for k, v in zip(_JOINT_KEYS, f.readline().split())}
                                     for _ in range(body["numJoint"])]
                frame["bodyInfo"].append(body)
            seq["frameInfo"].append(frame)
    ids = []
    for fr in seq["frameInfo"]:
        for b in fr["bodyInfo"]:
            if b["bodyID"] not in ids:
                ids.append(b["bodyID"])
    xyz = np.zeros((seq["numFrame"], len(ids), 25, 3), np.float32)
    for t, fr in enumerate(seq["frameInfo"]):
        for b in fr["bodyInfo"]:
            xyz[t, ids.index(b["bodyID"])] = [[j["x"], j["y"], j["z"]] for j in b["jointInfo"]]
    return xyz, ids


def peak_bytes(fn, path):
    tracemalloc.start()
    fn(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main():
    tmp = tempfile.TemporaryDirectory()
    files = sorted(SHARED.glob("*.skeleton")) if SHARED.is_dir() else []
    source = "real NTU RGB+D files (../shared/data/ntu_rgbd_samples)"
    if not files:
        files, source = _generated(Path(tmp.name)), "generated NTU-format files (real data absent)"
    for p in files:  # same answers
        a, b, (c, ids) = read_skeleton(p), read_skeleton_naive(p), read_straightforward(p)
        assert np.array_equal(a.xyz, b.xyz) and np.array_equal(a.body_ids, b.body_ids), p
        assert np.array_equal(a.xyz, c) and a.body_ids.tolist() == ids, p
    frames = sum(read_skeleton(p).num_frames for p in files)
    # interleaved rounds, so that both readers see the same load on a shared machine
    for a, p in zip(read_skeletons(files), files):
        assert np.array_equal(a.xyz, read_skeleton_naive(p).xyz), p
    fast_times, naive_times, checked_times, single_times = [], [], [], []
    for _ in range(7):
        fast_times.append(best_time(lambda: read_skeletons(files), repeat=1, warmup=1))
        single_times.append(best_time(lambda: [read_skeleton(p) for p in files], repeat=1, warmup=1))
        naive_times.append(best_time(lambda: [read_straightforward(p) for p in files], repeat=1, warmup=0))
        checked_times.append(best_time(lambda: [read_skeleton_naive(p) for p in files], repeat=1, warmup=0))
    t_fast, t_naive = min(fast_times), min(naive_times)
    big = None
    mem_fast = peak_bytes(lambda p: read_skeletons(files), big)
    mem_naive = peak_bytes(lambda p: [read_straightforward(q) for q in files], big)
    ratios = sorted(n / f for n, f in zip(naive_times, fast_times))
    summary = {"speedup": round(t_naive / t_fast, 2), "speedup_median_round": round(ratios[len(ratios) // 2], 2), "fast_ms_per_file": round(1e3 * t_fast / len(files), 3),
               "naive_ms_per_file": round(1e3 * t_naive / len(files), 3),
               "speedup_vs_checked_line_reader": round(min(checked_times) / t_fast, 2),
               "speedup_file_by_file": round(t_naive / min(single_times), 2),
               "single_ms_per_file": round(1e3 * min(single_times) / len(files), 3),
               "fast_peak_mb": round(mem_fast / 2 ** 20, 2), "naive_peak_mb": round(mem_naive / 2 ** 20, 2)}
    write_result("ntu_reader", summary, compared={
        "fast": "skelvis.datasets.ntu.read_skeletons (what the ntu reader uses, chunks of 256 files): per file a "
                "vectorised structure pass cuts out the x y z text, then one pandas C-parser call for all files; "
                "falls back to the checked line reader on anything unusual",
        "single": "skelvis.datasets.ntu.read_skeleton: the same, one pandas call per file (speedup_file_by_file)",
        "naive": "read_straightforward (this file): the reference reader as ported in ST-GCN/2s-AGCN, line by line, "
                 "every field into a dict",
        "checked_line_reader": "skelvis.datasets.ntu.read_skeleton_naive: line by line, x y z only, every line "
                               "checked (the fast reader's fallback)"},
        inputs={"source": source, "files": len(files), "frames": frames, "bytes": sum(p.stat().st_size for p in files),
                "peak_memory": "reading all files"},
        timing="7 interleaved rounds over all files (fast with 1 warm-up each); speedup = best naive / best fast; peak = tracemalloc peak while reading all files")
    tmp.cleanup()


if __name__ == "__main__":
    main()
