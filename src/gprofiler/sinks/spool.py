"""A bounded on-disk queue of profiles waiting for the server: written before any upload is tried.

One gzipped JSON file per profile, named by a sequence number so that the oldest goes first, each
written to a private temporary name, synced and renamed: a crash leaves whole entries or none. The
directory is the agent's alone (0700). An entry the server refused for good, or that cannot be read,
is set aside under a name that says why (`<name>.refused-413`, `<name>.bad`) and no longer sent.
Beyond `max_bytes` the set-aside entries are dropped first, then the oldest waiting ones, and said so.
"""

import gzip
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_ENTRY = re.compile(r"^(\d{12})\.json\.gz$")
_SET_ASIDE = re.compile(r"^(\d{12})\.json\.gz\.(?:bad|refused-\d{3})$")
_TEMP_PREFIX = ".incoming-"


@dataclass(frozen=True)
class SpoolEntry:
    path: Path
    sequence: int
    document: dict[str, Any]


class Spool:
    """Used from two threads (the loop writes, the sender reads and removes): every method is locked."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        for leftover in directory.glob(f"{_TEMP_PREFIX}*"):
            leftover.unlink(missing_ok=True)  # a write interrupted by a crash: never renamed, never queued
        self._next = max(self._sequences(), default=0) + 1

    def _sequences(self) -> list[int]:
        return sorted(
            int(match.group(1)) for name in os.listdir(self.directory) if (match := _ENTRY.match(name))
        )

    def _path(self, sequence: int) -> Path:
        return self.directory / f"{sequence:012d}.json.gz"

    def __len__(self) -> int:
        with self._lock:
            return len(self._sequences())

    def put(self, document: dict[str, Any]) -> Path:
        """Queue one profile durably; OSError (a full disk...) leaves nothing half-written behind."""
        return self.put_encoded(encode_document(document))

    def put_encoded(self, data: bytes) -> Path:
        """`put` for a document already through `encode_document`."""
        with self._lock:
            return self._put(data)

    def set_aside(self, entry: SpoolEntry, reason: str) -> str:
        """Keep a profile that will never be sent under a name ending in `.<reason>`; its new name."""
        with self._lock:
            target = entry.path.with_name(f"{entry.path.name}.{reason}")
            os.replace(entry.path, target)
            return target.name

    def _put(self, data: bytes) -> Path:
        sequence = self._next
        temp = self.directory / f"{_TEMP_PREFIX}{sequence}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.rename(temp, self._path(sequence))
        except OSError:
            temp.unlink(missing_ok=True)
            raise
        self._next = sequence + 1
        try:
            self._enforce_cap()
        except OSError as error:  # the profile is queued; only the trimming failed
            logger.warning("cannot trim the upload spool %s: %s", self.directory, error)
        return self._path(sequence)

    def _enforce_cap(self) -> None:
        set_aside = sorted(
            (int(match.group(1)), name)
            for name in os.listdir(self.directory)
            if (match := _SET_ASIDE.match(name))
        )
        waiting = [(sequence, self._path(sequence).name) for sequence in self._sequences()]
        files = [name for _, name in set_aside] + [name for _, name in waiting[:-1]]  # the newest stays
        sizes = {name: self._file_size(name) for name in files}
        total = sum(sizes.values()) + (self._file_size(waiting[-1][1]) if waiting else 0)
        dropped = {"set-aside": 0, "waiting": 0}
        for name in files:
            if total <= self.max_bytes:
                break
            (self.directory / name).unlink(missing_ok=True)
            total -= sizes[name]
            dropped["waiting" if _ENTRY.match(name) else "set-aside"] += 1
        if any(dropped.values()):
            logger.warning(
                "upload spool over its cap of %d bytes: dropped %d set-aside and %d waiting "
                "profile(s), oldest first",
                self.max_bytes,
                dropped["set-aside"],
                dropped["waiting"],
            )

    def _file_size(self, name: str) -> int:
        try:
            return (self.directory / name).stat().st_size
        except FileNotFoundError:
            return 0

    def oldest(self) -> SpoolEntry | None:
        """The next profile to send; an entry that cannot be read is set aside (`.bad`) and skipped."""
        with self._lock:
            return self._oldest()

    def _oldest(self) -> SpoolEntry | None:
        for sequence in self._sequences():
            path = self._path(sequence)
            try:
                document = json.loads(gzip.decompress(path.read_bytes()))
                if not isinstance(document, dict):
                    raise ValueError("not a JSON object")
            except FileNotFoundError:
                continue
            except (OSError, ValueError, EOFError) as error:
                logger.error("unreadable spooled profile %s (%s): set aside as .bad", path.name, error)
                os.replace(path, path.with_name(path.name + ".bad"))
                continue
            return SpoolEntry(path, sequence, document)
        return None

    def remove(self, entry: SpoolEntry) -> None:
        with self._lock:
            entry.path.unlink(missing_ok=True)


def encode_document(document: dict[str, Any]) -> bytes:
    """A profile document as the spool stores it and the client sends it: gzipped JSON."""
    return gzip.compress(json.dumps(document, ensure_ascii=False).encode("utf-8"), compresslevel=6)
