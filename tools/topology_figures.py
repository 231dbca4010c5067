"""Draw every topology's joint order for docs/own-data.md with the project's plotting code.

Usage: python tools/topology_figures.py    # writes docs/figures/topology_<name>.png
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
import matplotlib.pyplot as plt

from skelvis.plots.data import topology_figure
from skelvis.topology import TOPOLOGIES

if __name__ == "__main__":
    out = ROOT / "docs" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    for name, topo in TOPOLOGIES.items():
        fig = topology_figure(topo)
        fig.savefig(out / f"topology_{name}.png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        print(out / f"topology_{name}.png")
