"""The agent's own Python sampler: one thread per cycle samples every chosen interpreter in place.

py-spy costs ~13 ms of CPU to start per process and cycle (it parses the interpreter's symbols
each time), whatever it samples after; with 50 busy Python processes that was 0.65 s of CPU per
cycle before any sample. This sampler finds an interpreter's `_PyRuntime` once per process, and a
sample costs a few reads of /proc/PID/mem: its cost follows the samples taken, which follow the CPU
the processes use (`sampling_plan`), not how many processes there are.

It reads the CPython versions in `layouts.LAYOUTS`; the others go to py-spy.
"""

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.procfs import parse_mapped_paths
from gprofiler.discovery.runtimes import libpython_path
from gprofiler.discovery.symbols import MappedSymbols, PerProcess, read_maps
from gprofiler.profilers.python.layouts import layout_for
from gprofiler.profilers.python.remote import Interpreter, StackReader
from gprofiler.profilers.remote_memory import ProcessMemory
from gprofiler.profilers.sampling import Target

logger = logging.getLogger(__name__)

_SYMBOLS = ("_PyRuntime", "PyCode_Type", "PyUnicode_Type")
_FREE_THREADED = re.compile(r"python3\.\d+t(?:\b|$)")  # python3.13t, libpython3.13t.so


class InterpreterFinder:
    """Each process's `Interpreter` (or None: py-spy's), found once per process; symbols once per file."""

    def __init__(self, proc_root: Path, suffix: str) -> None:
        self.proc_root, self.suffix = proc_root, suffix
        self._symbols = MappedSymbols(proc_root, set(_SYMBOLS))
        self._processes = PerProcess(self._find)

    def find(self, process: DiscoveredProcess) -> Interpreter | None:
        return self._processes.get(process)

    def _find(self, process: DiscoveredProcess) -> Interpreter | None:
        layout = layout_for((process.metadata or {}).get("python_version"))
        if layout is None:
            return None
        maps = read_maps(self.proc_root, process.pid)
        wanted = libpython_path(parse_mapped_paths(maps)) or process.info.exe
        if _FREE_THREADED.search(os.path.basename(wanted)):
            return None  # another layout (no GIL, per-object locks): py-spy's
        found = self._symbols.place(process.pid, maps, wanted) or {}
        if len(found) < len(_SYMBOLS):
            return None
        runtime, code_type, unicode_type = (found[name] for name in _SYMBOLS)
        return Interpreter(layout, runtime, code_type, unicode_type, self.suffix)


class PythonSampled:
    """A target's reads for one cycle: the thread holding the GIL, or every running thread."""

    def __init__(self, reader: StackReader, gil_only: bool) -> None:
        self.reader, self.gil_only = reader, gil_only

    def sample(self, active: Callable[[int], bool]) -> list[tuple[str, ...]]:
        if self.gil_only:
            holder = self.reader.gil_holder()
            threads = [holder] if holder else []
        else:
            threads = [tstate for tstate, tid in self.reader.threads() if active(tid)]
        return [self.reader.stack(tstate) for tstate in threads]

    def close(self) -> None:
        self.reader.memory.close()


def python_target(
    process: DiscoveredProcess,
    interpreter: Interpreter,
    proc_root: Path,
    plan: tuple[int, int],
    gil_only: bool,
) -> Target:
    """A process for the cycle's sampler; `gil_only`: just the thread holding the GIL (else every
    thread the OS has running)."""

    def open_target() -> PythonSampled:
        return PythonSampled(StackReader(ProcessMemory(proc_root, process.pid), interpreter), gil_only)

    rate, seconds = plan
    return Target(process, open_target, rate, seconds, "python sampler")
