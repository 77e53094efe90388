#!/usr/bin/env python3
"""Build the pinned helm from the Go module proxy into build/tools/helm (git-ignored), for the tests
that lint and render the charts in deploy/helm.

`go install MODULE/cmd/helm@VERSION` (the registry's ordinary client: the module and its
dependencies come from the Go module proxy, checked against the checksum database and helm's own
go.sum); the module's hash must then be the `h1` in scripts/helm.lock. The build takes minutes, so
its result is kept in a cache outside the checkout named by the lock's contents
($GPROFILER_BUILD_CACHE, default ~/.cache/gprofiler-build): a clean clone copies it in a second.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from build_cache import cache_dir, install

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "scripts" / "helm.lock"
DESTINATION = ROOT / "build" / "tools" / "helm"


def _module_hash(go: str, environment: dict[str, str], module: str, version: str) -> str:
    result = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        check=True, capture_output=True, text=True, env=environment,
    )  # fmt: skip
    return str(json.loads(result.stdout)["Sum"])


MINIMUM_GO = (1, 24)  # helm 3.22's go.mod


def _go() -> str | None:
    """A Go new enough for helm: the one on PATH, else the machine's /usr/local/go (Debian 12's
    golang-go is 1.19)."""
    for candidate in (shutil.which("go"), "/usr/local/go/bin/go"):
        if not candidate or not Path(candidate).is_file():
            continue
        version = subprocess.run([candidate, "env", "GOVERSION"], capture_output=True, text=True).stdout
        numbers = version.strip().removeprefix("go").split(".")[:2]
        if all(part.isdigit() for part in numbers) and tuple(map(int, numbers)) >= MINIMUM_GO:
            return candidate
    return None


def _build(lock: dict[str, str], cache: Path) -> int:
    go = _go()
    if go is None:
        print(f"no Go {MINIMUM_GO[0]}.{MINIMUM_GO[1]} or newer (on PATH or /usr/local/go)", file=sys.stderr)
        return 1
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="helm-build-", dir=cache.parent) as scratch:
        environment = {
            **os.environ, "GOBIN": f"{scratch}/bin", "GOPATH": f"{scratch}/gopath",
            "GOCACHE": f"{scratch}/gocache", "GOFLAGS": "-modcacherw", "CGO_ENABLED": "0",
        }  # fmt: skip
        found = _module_hash(go, environment, lock["module"], lock["version"])
        if found != lock["h1"]:
            print(f"{lock['module']}@{lock['version']}: {found}, not the h1 in {LOCK.name}", file=sys.stderr)
            return 1
        print(f"building helm {lock['version']} with go (a few minutes, once)", file=sys.stderr)
        package = f"{lock['package']}@{lock['version']}"
        subprocess.run([go, "install", "-trimpath", package], check=True, env=environment)
        Path(f"{scratch}/bin").rename(cache)
    return 0


def main() -> int:
    lock = json.loads(LOCK.read_text())
    cache = cache_dir(LOCK, "helm", lock["version"])
    if not (cache / "helm").is_file():
        code = _build(lock, cache)
        if code:
            return code
    install(cache / "helm", DESTINATION)
    print(f"helm {lock['version']} -> {DESTINATION.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
