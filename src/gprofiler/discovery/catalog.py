"""Every process on the machine with its runtime, app id and metadata, refreshed each cycle.

Facts about a process are computed once per (pid, start time, executable) and facts about a binary
once per file (device, inode), so a cycle costs a stat and a readlink per process.
"""

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gprofiler.discovery.appids import application_id
from gprofiler.discovery.containers import ContainerRef, read_container
from gprofiler.discovery.elf import GoBinary, inspect_go_binary
from gprofiler.discovery.procfs import (
    ProcessInfo,
    list_pids,
    parse_mapped_paths,
    read_cwd,
    read_process,
)
from gprofiler.discovery.rootfs import open_regular
from gprofiler.discovery.runtimes import (
    GO,
    JAVA,
    NODEJS,
    PHP,
    PYTHON,
    RUBY,
    libpython_path,
    node_version_in,
    php_version_in,
    python_major_minor,
    python_version_in,
    ruby_version_in,
    runtime_from_exe,
    runtime_from_maps,
    runtime_library,
)

logger = logging.getLogger(__name__)

_MAPS_LINE = re.compile(r"^([0-9a-f]+-[0-9a-f]+) \S+ \S+ \S+ \S+\s+(/.*)$", re.MULTILINE)


@dataclass(frozen=True)
class DiscoveredProcess:
    info: ProcessInfo
    runtime: str | None  # PYTHON, NODEJS, GO or None (native / unknown)
    appid: str | None
    metadata: dict[str, Any] | None = field(default=None, compare=False)
    container: ContainerRef | None = None

    @property
    def pid(self) -> int:
        return self.info.pid


def _read_maps(proc_root: Path, pid: int) -> str:
    try:
        return (proc_root / str(pid) / "maps").read_text(errors="replace")
    except OSError:
        return ""


def _mapped_file_handle(proc_root: Path, pid: int, maps: str, wanted: str) -> Path | None:
    """/proc/PID/map_files/<range> for a mapped path: the exact file, in any mount namespace."""
    for match in _MAPS_LINE.finditer(maps):
        if match.group(2) == wanted:
            start, end = (int(bound, 16) for bound in match.group(1).split("-"))
            return proc_root / str(pid) / "map_files" / f"{start:x}-{end:x}"  # maps pads with zeros, this not
    return None


class ProcessCatalog:
    """Discovers processes and classifies them; `scan()` once per cycle."""

    def __init__(self, proc_root: Path = Path("/proc"), *, appids: bool = True) -> None:
        self.proc_root = proc_root
        self._proc = str(proc_root)
        self.appids = appids
        self._processes: dict[tuple[int, int, str], DiscoveredProcess] = {}
        self._binaries: dict[tuple[int, int], dict[str, Any]] = {}
        self._self_pid = os.getpid()
        self.cpu_ticks: dict[int, int] = {}  # utime + stime of each process read by the last scan

    def scan(self, only_pids: Iterable[int] | None = None) -> dict[int, DiscoveredProcess]:
        """Processes alive now (or just `only_pids`), by PID; the agent and its tools are left out."""
        pids = list(only_pids) if only_pids is not None else list_pids(self.proc_root)
        self.cpu_ticks = {}
        found: dict[int, DiscoveredProcess] = {}
        for pid in pids:
            if pid == self._self_pid:
                continue
            process = self.lookup(pid, skip_own_children=True)
            if process is not None:
                found[pid] = process
        live = {(p.info.pid, p.info.start_time, p.info.exe) for p in found.values()}
        if only_pids is None:
            self._processes = {key: value for key, value in self._processes.items() if key in live}
        return found

    def lookup(self, pid: int, skip_own_children: bool = False) -> DiscoveredProcess | None:
        """One process, from the cache when it is the same process as before.

        With `skip_own_children`, the agent's own tools (perf, py-spy) are not returned.
        """
        base = f"{self._proc}/{pid}"
        try:
            with open(f"{base}/stat", "rb") as stat_file:
                fields = stat_file.read().rpartition(b")")[2].split()
            start_time, ppid = int(fields[19]), int(fields[1])
            self.cpu_ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, ValueError, IndexError):
            return None  # gone
        if skip_own_children and ppid == self._self_pid:
            return None
        try:
            exe = os.readlink(f"{base}/exe").removesuffix(" (deleted)")
        except OSError:
            exe = ""  # kernel thread
        cached = self._processes.get((pid, start_time, exe))
        if cached is not None:
            return cached
        info = read_process(self.proc_root, pid)
        if info is None:
            return None
        try:
            process = self._classify(info)
        except Exception:  # a bug met by one odd process: it stays perf's, the scan goes on
            logger.exception("cannot classify pid %d (%s); it is profiled by perf only", pid, info.comm)
            process = DiscoveredProcess(info, None, None, None)
        self._processes[(pid, info.start_time, info.exe)] = process
        return process

    def _classify(self, info: ProcessInfo) -> DiscoveredProcess:
        if not info.exe:
            return DiscoveredProcess(info, None, None, None)  # kernel thread
        container = read_container(self.proc_root, info.pid)
        binary = self._binary_facts(info.pid)
        runtime = runtime_from_exe(info.exe)
        maps = ""  # /proc/PID/maps, read at most once, and only when needed
        if runtime is None and binary.get("go") is None:
            maps = _read_maps(self.proc_root, info.pid)
            runtime = runtime_from_maps(parse_mapped_paths(maps))
        if runtime is None and binary.get("go") is not None:
            runtime = GO
        appid = None
        if self.appids and runtime in (PYTHON, NODEJS, JAVA, RUBY, PHP):
            appid = application_id(runtime, info.exe, info.cmdline, read_cwd(self.proc_root, info.pid))
        metadata = self._metadata(info, runtime, binary, maps)
        return DiscoveredProcess(info, runtime, appid, metadata, container)

    def _binary_facts(self, pid: int) -> dict[str, Any]:
        """Facts about the executable file, cached per file."""
        exe = self.proc_root / str(pid) / "exe"
        try:
            identity = os.stat(exe)
        except OSError:
            return {}
        key = (identity.st_dev, identity.st_ino)
        facts = self._binaries.get(key)
        if facts is None:
            facts = {}
            try:
                with open_regular(exe) as file:
                    go: GoBinary | None = inspect_go_binary(file)
                facts["go"] = go
            except OSError:
                pass
            self._binaries[key] = facts
        return facts

    def _file_version(self, handle: Path, kind: str, major_minor: str | None = None) -> str | None:
        """A runtime version read from a binary, cached per file (these files are large)."""
        try:
            identity = os.stat(handle)
        except OSError:
            return None
        facts = self._binaries.setdefault((identity.st_dev, identity.st_ino), {})
        if kind not in facts:
            try:
                with open_regular(handle) as file:
                    if kind == PYTHON:
                        facts[kind] = python_version_in(file, major_minor)
                    else:
                        facts[kind] = {NODEJS: node_version_in, RUBY: ruby_version_in, PHP: php_version_in}[
                            kind
                        ](file)
            except OSError:
                facts[kind] = None
        version: str | None = facts[kind]
        return version

    def _metadata(
        self, info: ProcessInfo, runtime: str | None, binary: dict[str, Any], maps: str
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"exe": info.exe}
        exe_handle = self.proc_root / str(info.pid) / "exe"
        if runtime == PYTHON:
            maps = maps or _read_maps(self.proc_root, info.pid)
            library = libpython_path(parse_mapped_paths(maps))
            handle = _mapped_file_handle(self.proc_root, info.pid, maps, library) if library else None
            name = library or info.exe
            metadata["python_version"] = self._file_version(
                handle or exe_handle, PYTHON, python_major_minor(name)
            )
        elif runtime == NODEJS:
            metadata["node_version"] = self._file_version(exe_handle, NODEJS)
        elif runtime in (RUBY, PHP):  # the version is in libruby / libphp when the exe is a launcher
            maps = maps or _read_maps(self.proc_root, info.pid)
            library = runtime_library(runtime, parse_mapped_paths(maps))
            handle = _mapped_file_handle(self.proc_root, info.pid, maps, library) if library else None
            metadata[f"{runtime}_version"] = self._file_version(handle or exe_handle, runtime)
        elif runtime == GO:
            go: GoBinary = binary["go"]
            metadata["go_version"] = go.version
            metadata["stripped"] = go.stripped
        return metadata
