#!/usr/bin/env python3
"""Copy the pinned d3 and d3-flame-graph bundles from node_modules into the package's resources.

`npm ci` (driven by ./dev.sh setup) installs exactly what package-lock.json pins; this script only
copies the minified bundles the flame graph page inlines. The copies are git-ignored and rebuilt,
never edited by hand.
"""

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "src" / "gprofiler" / "resources" / "flamegraph" / "vendor"
BUNDLES = {
    "d3": ("dist/d3.min.js", "d3.min.js"),
    "d3-flame-graph": ("dist/d3-flamegraph.umd.min.js", "d3-flamegraph.min.js"),
}


def main() -> int:
    VENDOR.mkdir(parents=True, exist_ok=True)
    lock = json.loads((ROOT / "package-lock.json").read_text())
    for package, (source, target) in BUNDLES.items():
        package_dir = ROOT / "node_modules" / package
        installed = json.loads((package_dir / "package.json").read_text())["version"]
        pinned = lock["packages"][f"node_modules/{package}"]["version"]
        if installed != pinned:
            print(f"{package} {installed} is installed but {pinned} is pinned: run npm ci", file=sys.stderr)
            return 1
        shutil.copyfile(package_dir / source, VENDOR / target)
        print(f"copied {package} {installed}: {source} -> {VENDOR.relative_to(ROOT) / target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
