"""`[package==version]` on Python frames, as gProfiler shows them.

A frame's file is matched against the RECORD files of the `*.dist-info` directories in its
site-packages (read inside the process's own root, never following links out of it); files of the
standard library get `standard-library==<Python version>`.
"""

import csv
import logging
import os
import posixpath
import re
from collections import Counter
from pathlib import Path

from gprofiler.discovery.rootfs import listdir_in_root, read_in_root
from gprofiler.stacks.model import StackCounts

logger = logging.getLogger(__name__)

_FRAME_FILE = re.compile(r"\((/[^()]*?\.py):(\d+)\)")
_STDLIB = re.compile(r"/python\d\.\d{1,2}/(?!.*(?:site|dist)-packages)")
_MAX_RECORD = 8 << 20
_MAX_METADATA = 256 << 10
_MAX_CACHED_DIRS = 256


def packages_dir(path: str) -> str | None:
    """The site-packages (or dist-packages) directory a file lives in, if any."""
    for marker in ("/site-packages/", "/dist-packages/"):
        head, sep, _ = path.rpartition(marker)
        if sep:
            return head + sep.rstrip("/")
    return None


def parse_metadata_name_version(text: str) -> tuple[str, str] | None:
    """Name and Version from a METADATA (email-header) file."""
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        if not line.strip():
            break  # headers end at the first blank line
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version") and key not in fields:
            fields[key] = value.strip()
    if "Name" in fields and "Version" in fields:
        return fields["Name"], fields["Version"]
    return None


def parse_record_paths(text: str, site_dir: str) -> list[str]:
    """Absolute paths of the files a RECORD lists (they are relative to site-packages); what a
    malformed row (csv.Error: a field over csv's size limit, a NUL...) leaves unread is skipped."""
    paths = []
    for line in text.split("\n"):
        try:
            row = next(csv.reader([line]), None)
        except csv.Error:
            continue
        if row and row[0].endswith(".py"):
            paths.append(posixpath.normpath(posixpath.join(site_dir, row[0])))
    return paths


class PackageVersions:
    """Caches, per mount namespace and site-packages directory, which file belongs to which package."""

    def __init__(self, proc_root: Path) -> None:
        self.proc_root = proc_root
        self._indexes: dict[tuple[int, str], dict[str, tuple[str, str]]] = {}

    def _index(self, pid: int, site_dir: str) -> dict[str, tuple[str, str]]:
        try:
            namespace = os.stat(self.proc_root / str(pid) / "ns" / "mnt").st_ino
        except OSError:
            return {}
        key = (namespace, site_dir)
        index = self._indexes.get(key)
        if index is None:
            if len(self._indexes) >= _MAX_CACHED_DIRS:
                self._indexes.clear()
            index = self._indexes[key] = self._build_index(self.proc_root / str(pid) / "root", site_dir)
        return index

    @staticmethod
    def _build_index(root: Path, site_dir: str) -> dict[str, tuple[str, str]]:
        index: dict[str, tuple[str, str]] = {}
        try:
            entries = listdir_in_root(root, site_dir)
        except OSError:
            return index
        for entry in entries:
            if not entry.endswith(".dist-info"):
                continue
            try:
                metadata = read_in_root(root, f"{site_dir}/{entry}/METADATA", _MAX_METADATA)
                record = read_in_root(root, f"{site_dir}/{entry}/RECORD", _MAX_RECORD)
            except OSError:
                continue
            name_version = parse_metadata_name_version(metadata.decode("utf-8", "replace"))
            if name_version is None:
                continue
            for path in parse_record_paths(record.decode("utf-8", "replace"), site_dir):
                index[path] = name_version
        return index

    def annotate(self, pid: int, python_version: str | None, stacks: StackCounts) -> StackCounts:
        """Stacks with `[name==version]` inserted into the frames of known files."""
        files = {
            match.group(1) for stack in stacks for frame in stack for match in _FRAME_FILE.finditer(frame)
        }
        known: dict[str, tuple[str, str]] = {}
        for path in files:
            if python_version and _STDLIB.search(path):
                known[path] = ("standard-library", python_version)
                continue
            site_dir = packages_dir(path)
            if site_dir is not None:
                package = self._index(pid, site_dir).get(path)
                if package is not None:
                    known[path] = package
        if not known:
            return stacks

        def with_version(match: re.Match[str]) -> str:
            package = known.get(match.group(1))
            if package is None:
                return match.group(0)
            return f"({match.group(1)}:{match.group(2)} [{package[0]}=={package[1]}])"

        annotated: StackCounts = Counter()
        for stack, count in stacks.items():
            annotated[tuple(_FRAME_FILE.sub(with_version, frame) for frame in stack)] += count
        return annotated
