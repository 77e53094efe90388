"""The SQLite store's file: its schema, format version and migration, the write transaction shared by
every process on the file, and the state the write, rollup and query parts share (`SqliteBase`).
The layout is described in sqlite.py."""

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import TypeVar

from gprofiler_studio.model import (
    HOUR,
    MINUTE,
)
from gprofiler_studio.storage import sqlite_access

SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS services (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS stacks (
    id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, text TEXT NOT NULL, last_hour INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY, container TEXT NOT NULL, process TEXT NOT NULL, UNIQUE (container, process));
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY, service_id INTEGER NOT NULL, host TEXT NOT NULL, start_ts INTEGER NOT NULL,
    end_ts INTEGER NOT NULL, cpu_avg REAL, mem_avg REAL, samples INTEGER NOT NULL, digest BLOB,
    UNIQUE (service_id, start_ts, host, end_ts));
CREATE INDEX IF NOT EXISTS profiles_by_start ON profiles (start_ts);
CREATE TABLE IF NOT EXISTS profile_samples (
    profile_id INTEGER PRIMARY KEY, labels BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rollup_samples (
    service_id INTEGER NOT NULL, width INTEGER NOT NULL, bucket INTEGER NOT NULL, host TEXT NOT NULL,
    labels BLOB NOT NULL, data BLOB NOT NULL, PRIMARY KEY (service_id, width, bucket, host));
CREATE TABLE IF NOT EXISTS rollups (
    service_id INTEGER NOT NULL, width INTEGER NOT NULL, through INTEGER NOT NULL,
    PRIMARY KEY (service_id, width));
"""
ALL_HOSTS = ""  # the host of a rollup merged over every host (an uploaded hostname is never empty)
TEN_MINUTES = 10 * MINUTE
# Rollup widths, and whether each has a part per host besides the one for all hosts.
ROLLUPS = {HOUR: True, TEN_MINUTES: False}
# A bucket is rolled up this long after it ends: the cycles that ended in it are uploaded by then.
ROLLUP_GRACE = 2 * MINUTE
STACK_CACHE_ENTRIES = 200_000  # stack texts known to each cache (~0.5 KB each)
_IN_CHUNK = 5000  # ids per `IN (...)`, below SQLite's limit on parameters

Row = tuple[int, str, bytes, bytes, bool]
_T = TypeVar("_T")


def in_chunks(values: Sequence[_T]) -> Iterator[tuple[str, list[_T]]]:
    """`values` in chunks small enough for one `IN (...)`, each with its `?,?,...` placeholders."""
    for offset in range(0, len(values), _IN_CHUNK):
        chunk = list(values[offset : offset + _IN_CHUNK])
        yield ",".join("?" * len(chunk)), chunk


LABEL_OF, STACK_OF, COUNT_OF = (
    itemgetter(0, 1),
    itemgetter(2),
    itemgetter(3),
)  # of a Sample  # bucket, host, labels, data, wide


class StoreFormatError(RuntimeError):
    pass


class SqliteBase:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # timeout: with several studio processes (--workers) a writer waits for the others' commits.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=60)
        self._lock = threading.Lock()
        self._lock_file = os.open(
            f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
        )
        with self._lock:
            self._db.execute("PRAGMA page_size = 16384")  # profiles are ~16 KB BLOBs: fewer overflow pages
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate(path)
            self._db.executescript(_SCHEMA + sqlite_access.SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        # Queries read through their own connection: in WAL mode they never wait for an ingest.
        self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=60)
        self._read_lock = threading.Lock()
        # stack text -> id; label pair -> id; the stacks whose last_hour is known to be _touched_hour
        self._stack_cache: dict[str, int] = {}
        self._touched_hour, self._touched = 0, set[int]()
        self._stack_texts: dict[int, str] = {}  # for queries: mostly the same strings as above
        self._label_cache: dict[tuple[str, str], int] = {}
        self.access = sqlite_access.SqliteAccess(
            self._db, self._reader, self._read_lock, self._writing, self._service_id
        )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction, the only one in this process and among processes on this file.

        The flock on `<file>.lock` makes the writers of `serve --workers N` queue in the kernel,
        each woken as soon as the previous one is done, rather than retry on SQLite's busy handler,
        which sleeps 1, 2, 5, 10... ms between attempts."""
        with self._lock:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _migrate(self, path: Path) -> None:
        """Bring a file of an earlier format to this one; refuse one this version cannot read."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = self._db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if version == 2:
            for statement in (*sqlite_access.MIGRATE_FROM_2, "ALTER TABLE profiles ADD COLUMN digest BLOB"):
                self._db.execute(statement)
            return
        if version != SCHEMA_VERSION and (version or tables):
            raise StoreFormatError(
                f"{path} was written by another version of gprofiler-studio (format {version}, this one "
                f"reads {SCHEMA_VERSION}): move it away or choose another --data-dir"
            )

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._db.close()
            self._reader.close()
            os.close(self._lock_file)

    @staticmethod
    def _service_id(db: sqlite3.Connection, name: str, create: bool) -> int | None:
        if create:
            db.execute("INSERT OR IGNORE INTO services(name) VALUES (?)", (name,))
        row = db.execute("SELECT id FROM services WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else None

    @staticmethod
    def _through(db: sqlite3.Connection, service_id: int, width: int) -> int:
        """Buckets of `width` before this are rolled up."""
        row = db.execute(
            "SELECT through FROM rollups WHERE service_id = ? AND width = ?", (service_id, width)
        ).fetchone()
        return int(row[0]) if row else 0

    def _remember_text(self, stack_id: int, text: str) -> None:
        if len(self._stack_texts) >= STACK_CACHE_ENTRIES:
            self._stack_texts.clear()
        self._stack_texts[stack_id] = text

    def _forget(self) -> None:
        with self._lock:
            self._label_cache.clear()
            self._stack_cache.clear()
            self._stack_texts.clear()
            self._touched.clear()
