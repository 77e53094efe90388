#!/usr/bin/env python3
"""Fetch the pinned async-profiler from Maven Central and put its Linux x86-64 library into the
package's resources (git-ignored, like py-spy and the npm bundles).

The artifact, its SHA-256 and the files taken from it are in scripts/async-profiler.lock. Maven
itself (`dependency:copy`, the registry's ordinary client) downloads the jar into build/maven; the
jar's checksum must match the lock before anything is extracted from it.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "scripts" / "async-profiler.lock"
DOWNLOADS = ROOT / "build" / "maven"
DESTINATION = ROOT / "src" / "gprofiler" / "resources" / "java"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def main() -> int:
    lock = json.loads(LOCK.read_text())
    _group, artifact, version = lock["artifact"].split(":")
    jar = DOWNLOADS / f"{artifact}-{version}.jar"
    if not jar.is_file() or _sha256(jar) != lock["sha256"]:
        mvn = shutil.which("mvn")
        if mvn is None:
            print("mvn not found (apt-get install maven)", file=sys.stderr)
            return 1
        DOWNLOADS.mkdir(parents=True, exist_ok=True)
        command = [mvn, "-B", "-q", "-Dstyle.color=never", f"{DEPENDENCY_PLUGIN}:copy"]
        command += [f"-Dartifact={lock['artifact']}", f"-DoutputDirectory={DOWNLOADS}"]
        subprocess.run([*command, "-Dmdep.overWriteReleases=true"], check=True)
    digest = _sha256(jar)
    if digest != lock["sha256"]:
        print(f"{jar.name}: SHA-256 {digest}, the lock says {lock['sha256']}", file=sys.stderr)
        return 1
    DESTINATION.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(jar) as archive:
        for member, name in lock["files"].items():
            target = DESTINATION / name
            with archive.open(member) as source, open(f"{target}.tmp", "wb") as out:
                shutil.copyfileobj(source, out)
            Path(f"{target}.tmp").replace(target)
    (DESTINATION / "VERSION").write_text(f"{lock['artifact']} {lock['sha256']}\n")
    print(f"async-profiler {version} -> {DESTINATION.relative_to(ROOT)}")
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


if __name__ == "__main__":
    raise SystemExit(main())
