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


def perf_script_argv(perf: str, data: Path, kallsyms: Path | None = None) -> list[str]:
    """The `perf script` command line whose output `collapse_perf_script` expects; with `kallsyms`,
    kernel symbols are read from that copy of /proc/kallsyms (see `KallsymsCopy`)."""
    argv = [perf, "script", "-F", "comm,pid,tid,ip,sym,dso", "--no-inline", "-i", str(data)]
    return [*argv, "--kallsyms", str(kallsyms)] if kallsyms is not None else argv


class KallsymsCopy:
    """A copy of /proc/kallsyms for `perf script --kallsyms`, made again only when the kernel's
    modules change or `max_age` seconds have passed (symbols of BPF programs come and go too).

    The kernel formats /proc/kallsyms (~120,000 lines) anew on every read, and `perf script` reads
    it once per run: reading a file instead halves `perf script`'s CPU for a typical cycle (measured:
    123 -> 66 ms), with identical output. The copy lives in the agent's private work directory."""

    def __init__(self, directory: Path, proc_root: Path = Path("/proc"), max_age: float = 600.0) -> None:
        self.path = directory / "kallsyms"
        self._proc_root = proc_root
        self._max_age = max_age
        self._modules: bytes | None = None
        self._made = 0.0

    def current(self, now: float) -> Path | None:
        """The copy, made again if stale; None if /proc/kallsyms cannot be read (perf reads it then)."""
        try:
            modules = (self._proc_root / "modules").read_bytes()
        except OSError:
            modules = b""  # a kernel built without loadable modules
        try:
            if modules != self._modules or now - self._made > self._max_age:
                symbols = (self._proc_root / "kallsyms").read_bytes()
                temporary = self.path.with_name(self.path.name + ".tmp")
                try:
                    with open(temporary, "wb") as copy:
                        os.fchmod(copy.fileno(), 0o600)
                        copy.write(symbols)
                    os.replace(temporary, self.path)
                except OSError:
                    temporary.unlink(missing_ok=True)
                    raise
                self._modules, self._made = modules, now
        except OSError:
            self._modules = None
            return None
        return self.path

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self._modules = None
