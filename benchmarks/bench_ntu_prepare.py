"""`prepare` of NTU RGB+D as the data grows: the ``ntu`` block reader (a block of files at a time,
:func:`skelvis.datasets.ntu.ntu_blocks`) against the same reader read whole and then written in
blocks (what every reader did before), side by side in one run.

The files are the real NTU files of ../shared/data/ntu_rgbd_samples (or generated ones of the same
format where that folder is absent), linked under distinct NTU names (setups, cameras, performers,
repetitions, actions 1-49) to make folders of ``SIZES`` files.  Each (size, reader) runs in its own
process, which reports its exact peak resident set size (VmHWM) and seconds; the growth of the peak
from the smaller to the larger folder is the figure of merit (streamed: flat; whole: about 65 KB per
file at 100 frames).  Both write the same data.h5 (tests/test_chunked.py).
Usage: python benchmarks/bench_ntu_prepare.py [--sizes 1500 6000]  ->  results/bench/ntu_prepare.json
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import write_result
from bench_ntu_reader import SHARED, _generated

CHILD = r"""
import json, sys, time
from skelvis.datasets import prepare as P
folder, mode, out = sys.argv[1:4]
if mode == "whole":
    del P.BLOCK_READERS["ntu"]
cfg = {"reader": "ntu", "normalization": "ntu", "max_frames": 100, "ntu": {"benchmark": "xsub"}}
t0 = time.perf_counter()
ds = P.prepare_to_file("ntu", cfg, out, raw=folder)
s = time.perf_counter() - t0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"sequences": len(ds.x), "seconds": round(s, 2), "peak_mb": round(int(hwm) / 1024, 1)}))
"""


def folder_of(src: list[Path], n: int, root: Path) -> Path:
    out = root / f"ntu_{n}"
    out.mkdir()
    for i in range(n):
        a, p, r, c = 1 + i % 49, 1 + (i // 49) % 40, 1 + (i // 1960) % 2, 1 + (i // 3920) % 3
        s = 1 + i // 11760
        (out / f"S{s:03d}C{c:03d}P{p:03d}R{r:03d}A{a:03d}.skeleton").symlink_to(src[i % len(src)])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1500, 6000])
    args, _ = ap.parse_known_args(argv)  # benchmarks/run.py passes its own arguments
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if SHARED.is_dir():
            src, kind = sorted(SHARED.glob("*.skeleton")), f"the real files of {SHARED}"
        else:
            (tmp / "gen").mkdir()
            _generated(tmp / "gen")
            src, kind = sorted((tmp / "gen").glob("*.skeleton")), "generated files (../shared/data absent)"
        runs = {}
        for n in args.sizes:
            folder = folder_of(src, n, tmp)
            for mode in ("block", "whole"):
                p = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode, str(tmp / f"{mode}_{n}.h5")],
                                   capture_output=True, text=True, check=True)
                runs[f"{mode}_{n}"] = json.loads(p.stdout.strip().splitlines()[-1])
    lo, hi = min(args.sizes), max(args.sizes)
    summary = {f"{m}_peak_mb": {n: runs[f"{m}_{n}"]["peak_mb"] for n in args.sizes} for m in ("block", "whole")}
    for m in ("block", "whole"):
        summary[f"{m}_peak_ratio_{hi}_over_{lo}"] = round(runs[f"{m}_{hi}"]["peak_mb"] / runs[f"{m}_{lo}"]["peak_mb"], 3)
        summary[f"{m}_seconds"] = {n: runs[f"{m}_{n}"]["seconds"] for n in args.sizes}
    summary["whole_kb_per_extra_file"] = round(
        1024 * (runs[f"whole_{hi}"]["peak_mb"] - runs[f"whole_{lo}"]["peak_mb"]) / (hi - lo), 1)
    write_result("ntu_prepare", summary, runs=runs,
                 compared=f"prepare_to_file of NTU folders of {args.sizes} files ({kind}, linked under NTU "
                          "names; 100 frames, xsub): the ntu block reader vs the reader read whole, one "
                          "process each, exact peak RSS (VmHWM)")


if __name__ == "__main__":
    main()
