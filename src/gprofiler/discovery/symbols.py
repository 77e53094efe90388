"""Where a file's exported symbols are in a process that maps it (CPython's `_PyRuntime`, PHP's
`executor_globals`): the file is read through /proc/PID/map_files (the exact file the process
mapped, in whatever mount namespace; nothing of the target's filesystem is followed), its symbols
once per file, and placed at the address its offset 0 is mapped at in that process."""

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.elf import ElfSymbols, read_symbols
from gprofiler.discovery.rootfs import open_regular

logger = logging.getLogger(__name__)

_MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(/.*)$", re.MULTILINE)
_MAX_MAPS = 64 << 20
_MAX_FILES = 256


def read_maps(proc_root: Path, pid: int) -> str:
    """/proc/PID/maps (at most 64 MB of it); raises OSError when the process is gone."""
    with open(proc_root / str(pid) / "maps", "rb") as maps_file:
        return maps_file.read(_MAX_MAPS).decode(errors="replace")


class MappedSymbols:
    """Some exported symbols of mapped files, read once per file (device, inode)."""

    def __init__(self, proc_root: Path, wanted: set[str]) -> None:
        self.proc_root, self.wanted = proc_root, wanted
        self._files: dict[tuple[int, int], ElfSymbols | None] = {}

    def place(self, pid: int, maps: str, path: str) -> dict[str, int] | None:
        """The addresses of the wanted symbols `path` exports (those it has), in process `pid` whose
        /proc/PID/maps is `maps`; None when `path` is not mapped from its start or is not an ELF."""
        for match in _MAPS_LINE.finditer(maps):
            if match.group(4) == path and int(match.group(3), 16) == 0:
                start, end = int(match.group(1), 16), int(match.group(2), 16)
                # map_files names have no leading zeros; maps lines do
                symbols = self._symbols(self.proc_root / str(pid) / "map_files" / f"{start:x}-{end:x}")
                if symbols is None:
                    return None
                placed = {name: symbols.address(name, start) for name in self.wanted}
                return {name: address for name, address in placed.items() if address is not None}
        return None

    def _symbols(self, handle: Path) -> ElfSymbols | None:
        identity = os.stat(handle)
        key = (identity.st_dev, identity.st_ino)
        if key not in self._files:
            if len(self._files) >= _MAX_FILES:
                self._files.clear()
            with open_regular(handle) as file:
                self._files[key] = read_symbols(file, self.wanted)
        return self._files[key]


T = TypeVar("T")


class PerProcess(Generic[T]):
    """What `find` says of a process, worked out once per process (PID, start time, executable: a
    process that exec'd is another program); None when it raised OSError (the process went away)."""

    def __init__(self, find: Callable[[DiscoveredProcess], T | None]) -> None:
        self._find = find
        self._known: dict[tuple[int, int, str], T | None] = {}

    def get(self, process: DiscoveredProcess) -> T | None:
        key = (*process.info.key, process.info.exe)
        if key not in self._known:
            if len(self._known) > 4096:
                self._known.clear()
            try:
                self._known[key] = self._find(process)
            except OSError as error:
                logger.debug("pid %d: %s", process.pid, error)
                self._known[key] = None
        return self._known[key]
