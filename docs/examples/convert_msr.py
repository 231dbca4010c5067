"""MSR Action3D (aAA_sSS_eEE_skeleton3D.txt) -> the skelvis generic layout, cross-subject protocol."""
import csv
import re
import sys
from pathlib import Path

import numpy as np

ACTIONS = ["high arm wave", "horizontal arm wave", "hammer", "hand catch", "forward punch", "high throw",
           "draw x", "draw tick", "draw circle", "hand clap", "two hand wave", "side-boxing", "bend",
           "forward kick", "side kick", "jogging", "tennis swing", "tennis serve", "golf swing",
           "pick up & throw"]
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
(dst / "dataset.yaml").write_text("topology: msr_action3d\nfps: 15\n")
with open(dst / "labels.csv", "w", newline="") as f:
    labels = csv.writer(f)
    labels.writerow(["sample", "label", "subject", "split"])
    files = "*_skeleton3D.txt"                                # aAA_sSS_eEE_skeleton3D.txt
    for path in sorted(src.glob(files)):
        action, subject, _ = map(int, re.match(r"a(\d+)_s(\d+)_e(\d+)", path.name).groups())
        frames = np.loadtxt(path).reshape(-1, 20, 4)           # 20 lines "x y z confidence" per frame
        sample = path.name.split("_skeleton")[0]               # a01_s01_e01
        np.save(dst / f"{sample}.npy", frames[..., :3].astype(np.float32))   # (T, 20, 3)
        labels.writerow([sample, ACTIONS[action - 1], subject, "train" if subject % 2 else "test"])
