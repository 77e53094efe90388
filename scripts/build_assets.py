#!/usr/bin/env python3
"""Copy what npm built from package-lock.json into the package's resources (git-ignored copies).

- the minified d3 and d3-flame-graph bundles the flame graph page inlines;
- the same two plus uPlot (the time-series chart) and Swagger UI (the API's /docs page) for studio's
  web UI, which serves them itself;
- linux-perf.node, the addon attach-maps loads into running node processes, compiled by `npm ci`
  (node-gyp, against this machine's Node.js headers) for this Node.js major version.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "src" / "gprofiler" / "resources"
VENDOR = RESOURCES / "flamegraph" / "vendor"
STUDIO_VENDOR = ROOT / "src" / "gprofiler_studio" / "ui" / "vendor"
ADDON = ROOT / "node_modules" / "linux-perf" / "build" / "Release" / "linux-perf.node"
# package: [(file in the package, where it goes)]
BUNDLES = {
    "d3": [("dist/d3.min.js", VENDOR / "d3.min.js"), ("dist/d3.min.js", STUDIO_VENDOR / "d3.min.js")],
    "d3-flame-graph": [
        ("dist/d3-flamegraph.umd.min.js", VENDOR / "d3-flamegraph.min.js"),
        ("dist/d3-flamegraph.umd.min.js", STUDIO_VENDOR / "d3-flamegraph.min.js"),
    ],
    "uplot": [
        ("dist/uPlot.iife.min.js", STUDIO_VENDOR / "uPlot.min.js"),
        ("dist/uPlot.min.css", STUDIO_VENDOR / "uPlot.min.css"),
    ],
    "swagger-ui-dist": [
        ("swagger-ui-bundle.js", STUDIO_VENDOR / "swagger-ui-bundle.js"),
        ("swagger-ui.css", STUDIO_VENDOR / "swagger-ui.css"),
    ],
}


def main() -> int:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    for package, copies in BUNDLES.items():
        package_dir = ROOT / "node_modules" / package
        installed = json.loads((package_dir / "package.json").read_text())["version"]
        pinned = lock["packages"][f"node_modules/{package}"]["version"]
        if installed != pinned:
            print(f"{package} {installed} is installed but {pinned} is pinned: run npm ci", file=sys.stderr)
            return 1
        for source, target in copies:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(package_dir / source, target)
            print(f"copied {package} {installed}: {source} -> {target.relative_to(ROOT)}")
    return copy_addon()


def copy_addon() -> int:
    if not ADDON.is_file():
        print(
            f"{ADDON.relative_to(ROOT)} was not built (npm ci needs g++, make and Node.js headers)",
            file=sys.stderr,
        )
        return 1
    major = subprocess.run(
        ["node", "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = RESOURCES / "nodejs" / f"node{major}" / "linux-perf.node"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ADDON, target)
    print(f"copied linux-perf addon for Node.js {major} -> {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
