#!/usr/bin/env python3
"""Build the pinned rbspy from crates.io and put it into the package's resources (git-ignored, like
py-spy and async-profiler), for Ruby processes.

`cargo install --locked` (the registry's ordinary client, with the crate's own Cargo.lock) builds
the version in scripts/rbspy.lock; the .crate cargo downloaded must have the lock's SHA-256. The
build takes minutes, so its result is kept in a cache outside the checkout, named by the lock's
contents ($GPROFILER_BUILD_CACHE, default ~/.cache/gprofiler-build): a clean clone on a machine that
built it once copies it in seconds.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from build_cache import cache_dir, install

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "scripts" / "rbspy.lock"
DESTINATION = ROOT / "src" / "gprofiler" / "resources" / "bin" / "rbspy"


def _cargo() -> str | None:
    found = shutil.which("cargo")
    rustup_cargo = Path.home() / ".cargo" / "bin" / "cargo"
    return found or (str(rustup_cargo) if rustup_cargo.is_file() else None)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(lock: dict[str, str], cache: Path) -> int:
    cargo = _cargo()
    if cargo is None:
        print("cargo not found (install Rust with rustup, or apt-get install cargo)", file=sys.stderr)
        return 1
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rbspy-build-", dir=cache.parent) as scratch:
        command = [cargo, "install", "--locked", "--quiet", lock["crate"], "--version", lock["version"]]
        command += ["--root", f"{scratch}/root"]
        environment = {**os.environ, "CARGO_TARGET_DIR": f"{scratch}/target"}
        print(f"building {lock['crate']} {lock['version']} with cargo (a few minutes, once)", file=sys.stderr)
        subprocess.run(command, check=True, env=environment)
        cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
        pattern = f"{cargo_home}/registry/cache/*/{lock['crate']}-{lock['version']}.crate"
        crates = [Path(path) for path in glob.glob(pattern)]
        if not crates or any(_sha256(crate) != lock["sha256"] for crate in crates):
            print(f"{pattern}: not the SHA-256 in {LOCK.name}", file=sys.stderr)
            return 1
        Path(f"{scratch}/root").rename(cache)
    return 0


def main() -> int:
    lock = json.loads(LOCK.read_text())
    cache = cache_dir(LOCK, lock["crate"], lock["version"])
    if not (cache / "bin" / "rbspy").is_file():
        code = _build(lock, cache)
        if code:
            return code
    install(cache / "bin" / "rbspy", DESTINATION)
    print(f"rbspy {lock['version']} -> {DESTINATION.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
