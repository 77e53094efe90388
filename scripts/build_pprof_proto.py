#!/usr/bin/env python3
"""Generate the Python module of pprof's `profile.proto` into the package (git-ignored, like the
other third-party parts): src/gprofiler/output/profile_pb2.py and its type stubs.

The .proto comes from Debian's golang-github-google-pprof-dev (google/pprof's sources) and must have
the SHA-256 in scripts/pprof.lock; grpcio-tools' protoc (a dev dependency, the same release line as
the `protobuf` runtime the agent depends on) generates the module.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "scripts" / "pprof.lock"
DESTINATION = ROOT / "src" / "gprofiler" / "output"


def main() -> int:
    lock = json.loads(LOCK.read_text())
    proto = Path(lock["proto"])
    if not proto.is_file():
        print(f"{proto} is missing: apt-get install {lock['debian_package']}", file=sys.stderr)
        return 1
    if hashlib.sha256(proto.read_bytes()).hexdigest() != lock["sha256"]:
        print(f"{proto}: not the SHA-256 in {LOCK.name}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="pprof-proto-") as scratch:
        shutil.copy(proto, f"{scratch}/profile.proto")
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{scratch}", f"--python_out={scratch}",
             f"--pyi_out={scratch}", f"{scratch}/profile.proto"],
            check=True,
        )  # fmt: skip
        for name in ("profile_pb2.py", "profile_pb2.pyi"):
            shutil.copy(f"{scratch}/{name}", DESTINATION / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
