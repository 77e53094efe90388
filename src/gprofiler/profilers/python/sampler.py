"""The agent's own Python sampler: one thread per cycle samples every chosen interpreter in place.

py-spy costs ~13 ms of CPU to start per process and cycle (it parses the interpreter's symbols
each time), whatever it samples after; with 50 busy Python processes that was 0.65 s of CPU per
cycle before any sample. This sampler finds an interpreter's `_PyRuntime` once per process, and a
sample costs a few reads of /proc/PID/mem: its cost follows the samples taken, which follow the CPU
the processes use (`sampling_plan`), not how many processes there are.

It reads the CPython versions in `layouts.LAYOUTS`; the others go to py-spy.
"""

import heapq
import logging
import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.elf import ElfSymbols, read_symbols
from gprofiler.discovery.procfs import is_running, parse_mapped_paths
from gprofiler.discovery.rootfs import open_regular
from gprofiler.discovery.runtimes import libpython_path
from gprofiler.profilers.base import RuntimeResult
from gprofiler.profilers.python.layouts import layout_for
from gprofiler.profilers.python.remote import (
    Interpreter,
    NoInterpreterError,
    ProcessMemory,
    RemoteReadError,
    StackReader,
)
from gprofiler.stacks.model import StackCounts

logger = logging.getLogger(__name__)

_SYMBOLS = ("_PyRuntime", "PyCode_Type", "PyUnicode_Type")
_MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(/.*)$", re.MULTILINE)
_MAX_MAPS = 64 << 20
_FREE_THREADED = re.compile(r"python3\.\d+t(?:\b|$)")  # python3.13t, libpython3.13t.so
_BATCH_SECONDS = 0.005  # samples due this close together are taken in one wake-up
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_KEPT_THREAD_FILES = 32  # per process: /proc/PID/task/TID/stat kept open for the cycle, re-read with pread


class InterpreterFinder:
    """Each process's `Interpreter` (or None: py-spy's), found once per process; symbols once per file."""

    def __init__(self, proc_root: Path, suffix: str) -> None:
        self.proc_root, self.suffix = proc_root, suffix
        self._processes: dict[tuple[int, int, str], Interpreter | None] = {}  # by pid, start time, exe
        self._files: dict[tuple[int, int], ElfSymbols | None] = {}

    def find(self, process: DiscoveredProcess) -> Interpreter | None:
        key = (*process.info.key, process.info.exe)  # a process that exec'd is another interpreter
        if key not in self._processes:
            if len(self._processes) > 4096:
                self._processes.clear()
            try:
                self._processes[key] = self._find(process)
            except OSError as error:
                logger.debug("pid %d: no interpreter to sample, py-spy's: %s", process.pid, error)
                self._processes[key] = None
        return self._processes[key]

    def _find(self, process: DiscoveredProcess) -> Interpreter | None:
        layout = layout_for((process.metadata or {}).get("python_version"))
        if layout is None:
            return None
        base = self.proc_root / str(process.pid)
        with open(base / "maps", "rb") as maps_file:
            maps = maps_file.read(_MAX_MAPS).decode(errors="replace")
        wanted = libpython_path(parse_mapped_paths(maps)) or process.info.exe
        if _FREE_THREADED.search(os.path.basename(wanted)):
            return None  # another layout (no GIL, per-object locks): py-spy's
        for match in _MAPS_LINE.finditer(maps):
            if match.group(4) == wanted and int(match.group(3), 16) == 0:
                start, end = int(match.group(1), 16), int(match.group(2), 16)
                symbols = self._symbols(base / "map_files" / f"{start:x}-{end:x}")  # no leading zeros there
                if symbols is None:
                    return None
                addresses = [symbols.address(name, start) for name in _SYMBOLS]
                if None in addresses:
                    return None
                runtime, code_type, unicode_type = (address or 0 for address in addresses)
                return Interpreter(layout, runtime, code_type, unicode_type, self.suffix)
        return None

    def _symbols(self, handle: Path) -> ElfSymbols | None:
        identity = os.stat(handle)
        key = (identity.st_dev, identity.st_ino)
        if key not in self._files:
            with open_regular(handle) as file:
                self._files[key] = read_symbols(file, set(_SYMBOLS))
        return self._files[key]


@dataclass
class Target:
    process: DiscoveredProcess
    interpreter: Interpreter
    rate: int  # samples per second
    seconds: int  # sampled for the first `seconds` of the cycle
    gil_only: bool  # only the thread holding the GIL; else every thread the OS has running
    stacks: StackCounts = field(default_factory=Counter)
    errors: int = 0
    last_error: str = ""
    reader: StackReader | None = None
    no_interpreter: bool = False  # the library is there but no interpreter runs (gdb, vim...)
    thread_files: dict[int, int] = field(default_factory=dict)  # thread ID -> its open stat file


def _running(stat: bytes) -> bool:
    return stat.rpartition(b")")[2][1:2] == b"R"


class SamplerCycle:
    """One cycle of the sampler: a thread takes every target's samples on schedule, then
    `results()` turns them into stacks under each process's comm."""

    def __init__(self, targets: list[Target], proc_root: Path, include_idle: bool) -> None:
        self.targets, self.proc_root, self.include_idle = targets, proc_root, include_idle
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="python-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        schedule = []
        phases: dict[int, float] = {}
        for index, target in enumerate(self.targets):
            try:
                memory = ProcessMemory(self.proc_root, target.process.pid)
                target.reader = StackReader(memory, target.interpreter)
            except OSError as error:
                target.errors, target.last_error = 1, f"cannot read its memory: {error.strerror}"
                continue
            # Targets of one rate share a random phase, so one wake-up samples them all (a wake-up
            # costs more than a sample); the phase keeps the samples from lining up with the cycle.
            first = phases.setdefault(target.rate, start + random.uniform(0, 1 / target.rate))
            schedule.append((first, index, first + target.seconds))
        heapq.heapify(schedule)
        while schedule and not self._cancel.is_set():
            if self._cancel.wait(max(0.0, schedule[0][0] - time.monotonic())):
                break
            now = time.monotonic()
            while schedule and schedule[0][0] <= now + _BATCH_SECONDS:
                due, index, end = heapq.heappop(schedule)
                target = self.targets[index]
                if self._sample(target):
                    following = due + 1 / target.rate
                    if following < end:
                        heapq.heappush(schedule, (max(following, now), index, end))

    def _sample(self, target: Target) -> bool:
        """One sample of a target; False once it cannot be read any more (it exited)."""
        assert target.reader is not None
        try:
            if target.gil_only:
                holder = target.reader.gil_holder()
                threads = [holder] if holder else []
            else:
                threads = [tstate for tstate, tid in target.reader.threads() if self._active(target, tid)]
            for tstate in threads:
                stack = target.reader.stack(tstate)
                if stack:
                    key = (target.process.info.comm, *stack)
                    target.stacks[key] += 1
        except NoInterpreterError as error:
            target.errors, target.last_error, target.no_interpreter = target.errors + 1, str(error), True
            return False
        except RemoteReadError as error:
            target.errors += 1
            target.last_error = str(error)
            return is_running(self.proc_root, target.process.pid, target.process.info.start_time)
        except Exception as error:  # a bug met by what this process holds: it costs this process only
            if not target.errors:
                logger.exception("python sampler: pid %d", target.process.pid)
            target.errors, target.last_error = target.errors + 1, f"unexpected {error!r}"
        return True

    def _active(self, target: Target, tid: int) -> bool:
        """Whether the OS has the thread running or runnable (py-spy's idle test), unless idle
        threads are wanted. The thread's stat file is kept open for the cycle (re-read from offset 0,
        the kernel writes it anew), which halves the cost of the test."""
        if self.include_idle:
            return True
        fd = target.thread_files.get(tid)
        if fd is None:
            try:
                fd = os.open(f"{self.proc_root}/{target.process.pid}/task/{tid}/stat", _READ_FLAGS)
            except OSError:
                return False
            if len(target.thread_files) >= _KEPT_THREAD_FILES:
                try:
                    return _running(os.pread(fd, 1024, 0))
                except OSError:
                    return False
                finally:
                    os.close(fd)
            target.thread_files[tid] = fd
        try:
            return _running(os.pread(fd, 1024, 0))
        except OSError:  # the thread exited: its file no longer reads
            os.close(target.thread_files.pop(tid))
            return False

    def results(self, timeout: float) -> dict[int, RuntimeResult]:
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._cancel.set()
            self._thread.join()
        results = {}
        for target in self.targets:
            if target.reader is not None:
                target.reader.memory.close()
            for fd in target.thread_files.values():
                os.close(fd)
            target.thread_files.clear()
            info = target.process.info
            if target.stacks or not target.errors:
                results[info.pid] = RuntimeResult(info.comm, stacks=target.stacks)
            elif is_running(self.proc_root, info.pid, info.start_time):
                results[info.pid] = RuntimeResult(info.comm, error=f"python sampler: {target.last_error}")
        return results
