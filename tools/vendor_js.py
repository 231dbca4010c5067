"""Fetch the JavaScript the SkeletonVis page inlines from npm (`make vendor`, part of `make setup`).

Reads src/skelvis/viewer_assets/vendor.json (package, exact version, npm's sha512 integrity of the
tarball, the files to keep), runs `npm pack <name>@<version>` in a temporary folder, checks the
tarball's sha512 against the pinned integrity and extracts the listed files into
src/skelvis/viewer_assets/vendor/ (git-ignored). Does nothing for a package whose files are
already there with a matching stamp; `--force` fetches again.

    python tools/vendor_js.py [--force]
"""
import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "src" / "skelvis" / "viewer_assets"


def integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def vendor(force: bool = False) -> None:
    spec = json.loads((ASSETS / "vendor.json").read_text())["packages"]
    out = ASSETS / "vendor"
    out.mkdir(exist_ok=True)
    for name, p in spec.items():
        stamp = out / f"{name}.stamp"
        want = f"{name}@{p['version']} {p['integrity']}"
        if not force and stamp.exists() and stamp.read_text().strip() == want \
                and all((out / dst).exists() for dst in p["files"].values()):
            continue
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("vendor_js: npm not found; install Node.js (npm) to fetch the page's JavaScript")
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([npm, "pack", f"{name}@{p['version']}", "--silent"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            tgz = next(Path(tmp).glob("*.tgz"))
            got = integrity(tgz)
            if got != p["integrity"]:
                sys.exit(f"vendor_js: {name}@{p['version']}: tarball integrity {got} differs from the pinned "
                         f"{p['integrity']} in vendor.json; refusing to use it")
            with tarfile.open(tgz) as tar:
                for src, dst in p["files"].items():
                    member = tar.extractfile(f"package/{src}")
                    if member is None:
                        sys.exit(f"vendor_js: {name}@{p['version']} has no {src}")
                    (out / dst).write_bytes(member.read())
        stamp.write_text(want + "\n")
        print(f"vendor_js: {name}@{p['version']} -> {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="fetch again even when the files are there")
    vendor(ap.parse_args().force)
