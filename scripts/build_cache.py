"""Where the builds that take minutes (rbspy, helm) keep their results between checkouts, and how a
result is put into place: a directory named by the pinned lock's contents under
$GPROFILER_BUILD_CACHE (default ~/.cache/gprofiler-build), so a clean clone on a machine that built
it once copies it in a second, and a changed lock builds anew."""

import hashlib
import os
import shutil
from pathlib import Path


def cache_dir(lock: Path, name: str, version: str) -> Path:
    key = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    base = Path(os.environ.get("GPROFILER_BUILD_CACHE") or Path.home() / ".cache" / "gprofiler-build")
    return base / f"{name}-{version}-{key}"


def install(built: Path, destination: Path) -> None:
    """Copy a cached program into the checkout, replacing what was there in one rename."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, f"{destination}.tmp")
    Path(f"{destination}.tmp").replace(destination)
