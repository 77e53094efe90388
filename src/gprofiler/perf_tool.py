"""The perf binary: where it is, and the `perf script` command line the agent's parser reads.

Shared by the perf profiler and `gprofiler perf-collapse`, which profiles nothing.
"""

import os
import shutil
from pathlib import Path

from gprofiler.bundle import bundled_tool

PERF_INSTALL_HINT = (
    "install perf (Debian: apt-get install linux-perf; Ubuntu: apt-get install linux-tools-$(uname -r); "
    "Fedora/RHEL: dnf install perf), or pass its location with --perf-path"
)


class PerfError(Exception):
    """perf could not be found, started, or did not produce its output."""


def find_perf(explicit_path: str | None) -> str:
    """The perf binary to use: `--perf-path` if given, else the executable's own, else `perf` on PATH."""
    if explicit_path:
        if not (os.path.isfile(explicit_path) and os.access(explicit_path, os.X_OK)):
            raise PerfError(f"--perf-path {explicit_path} is not an executable file")
        return explicit_path
    found = bundled_tool("perf") or shutil.which("perf")
    if found is None:
        raise PerfError(f"perf was not found on PATH: {PERF_INSTALL_HINT}")
    return found


def perf_script_argv(perf: str, data: Path) -> list[str]:
    """The `perf script` command line whose output `collapse_perf_script` expects."""
    return [perf, "script", "-F", "comm,pid,tid,ip,sym,dso", "--no-inline", "-i", str(data)]
