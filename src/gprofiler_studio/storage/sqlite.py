"""The embedded store: one SQLite file in the data directory, nothing else to run.

SQLite rather than DuckDB: it is in Python's standard library (no dependency to pin or build), its
transactions make "one profile, all or nothing" trivial, and WAL mode lets queries read while an
ingest writes. What SQLite is not good at, summing millions of (stack, count) rows, it is not asked
to do: a profile is one row whose samples are packed arrays (see parts.py), and numpy sums them.

Layout:
- `profiles`: one row per profile (service, host, start, end, CPU and memory averages, total
  samples), unique on its identity, so an agent resending after a lost answer is not counted twice;
  `profile_samples` holds its part (labels and entries), kept for `--retention-days`;
- `rollup_samples`: parts merged per (service, width, bucket, host): per hour for each host and
  for all hosts together (host ''), kept for `--rollup-retention-days`, and per 10 minutes for all
  hosts, kept as long as the profiles. `roll_up` (run by studio's background loop) builds them once
  a bucket is over plus a grace for the last uploads; a profile arriving for a bucket already rolled
  up (it waited in an agent's spool) is merged into those rollups in its own transaction;
- `stacks` and `labels`: texts and (container, process) pairs stored once, referenced by id.
A query reads the rollups for the whole buckets of its range that are rolled up and the profiles for
the rest: the UI's "last hour" of a 100-host fleet sums ~6 rollups and ~15 minutes of profiles
instead of 6,000 profiles. A stack no longer referenced by any retained data is deleted by
retention (`last_hour` is the newest hour that uses it).
"""

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import TypeVar

import numpy as np

from gprofiler_studio.ingest import Profile
from gprofiler_studio.storage import parts, sqlite_access
from gprofiler_studio.storage.base import (
    HOUR,
    MINUTE,
    Filters,
    Outcome,
    Seen,
    TimePoint,
    bucket_of,
    stack_hash,
    timepoints,
    to_epoch,
    whole_buckets,
)

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
_STACK_CACHE_ENTRIES = 200_000  # stack texts known to each cache (~0.5 KB each)
_IN_CHUNK = 5000  # ids per `IN (...)`, below SQLite's limit on parameters

Row = tuple[int, str, bytes, bytes, bool]
_T = TypeVar("_T")


def _in_chunks(values: Sequence[_T]) -> Iterator[tuple[str, list[_T]]]:
    """`values` in chunks small enough for one `IN (...)`, each with its `?,?,...` placeholders."""
    for offset in range(0, len(values), _IN_CHUNK):
        chunk = list(values[offset : offset + _IN_CHUNK])
        yield ",".join("?" * len(chunk)), chunk


_LABEL, _STACK, _COUNT = (
    itemgetter(0, 1),
    itemgetter(2),
    itemgetter(3),
)  # of a Sample  # bucket, host, labels, data, wide


class StoreFormatError(RuntimeError):
    pass


class SqliteStore:
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

    # -- ingest --------------------------------------------------------------------------------

    def _stack_ids(self, stacks: list[str], hour: int) -> list[int]:
        """The id of each stack text (new ones inserted), every one's last_hour made at least `hour`."""
        ids = list(map(self._stack_cache.get, stacks))  # most stacks of a profile are known
        if None in ids:
            inserted = self._insert_stacks(
                [stack for stack, known in zip(stacks, ids, strict=True) if known is None], hour
            )
            ids = [
                inserted[stack] if known is None else known for stack, known in zip(stacks, ids, strict=True)
            ]
        found: list[int] = ids  # type: ignore[assignment]  # no None left
        self._touch(found, hour)
        return found

    def _touch(self, ids: list[int], hour: int) -> None:
        """last_hour = max(last_hour, hour) for the stacks, once per stack and hour in this process."""
        if hour > self._touched_hour:
            self._touched_hour, self._touched = hour, set()
        stale = set(ids)
        if hour == self._touched_hour:
            stale -= self._touched
            self._touched |= stale
        chunk_ids = list(stale)
        for marks, chunk in _in_chunks(chunk_ids):
            self._db.execute(
                f"UPDATE stacks SET last_hour = max(last_hour, ?) WHERE id IN ({marks})", [hour, *chunk]
            )

    def _insert_stacks(self, stacks: list[str], hour: int) -> dict[str, int]:
        unique = {stack: stack_hash(stack) for stack in stacks}
        self._db.executemany(
            "INSERT INTO stacks(hash, text, last_hour) VALUES (?, ?, ?) "
            "ON CONFLICT (hash) DO UPDATE SET last_hour = max(last_hour, excluded.last_hour)",
            ((digest, stack, hour) for stack, digest in unique.items()),
        )
        by_hash = {digest: stack for stack, digest in unique.items()}
        ids: dict[str, int] = {}
        hashes = list(by_hash)
        if len(self._stack_cache) + len(hashes) > _STACK_CACHE_ENTRIES:
            self._stack_cache.clear()
        for marks, chunk in _in_chunks(hashes):
            for digest, stack_id in self._db.execute(
                f"SELECT hash, id FROM stacks WHERE hash IN ({marks})", chunk
            ):
                text = by_hash[digest]
                ids[text] = self._stack_cache[text] = stack_id
                self._remember_text(stack_id, text)
        return ids

    def _label_ids(self, pairs: list[tuple[str, str]]) -> list[int]:
        ids = list(map(self._label_cache.get, pairs))
        if None in ids:
            unknown = {pair for pair, known in zip(pairs, ids, strict=True) if known is None}
            self._db.executemany("INSERT OR IGNORE INTO labels(container, process) VALUES (?, ?)", unknown)
            for pair in unknown:
                row = self._db.execute(
                    "SELECT id FROM labels WHERE container = ? AND process = ?", pair
                ).fetchone()
                self._label_cache[pair] = int(row[0])
            ids = list(map(self._label_cache.__getitem__, pairs))
        return ids  # type: ignore[return-value]  # no None left

    def add_profile(self, service: str, profile: Profile) -> Outcome:
        start, end = to_epoch(profile.start), to_epoch(profile.end)
        hour = bucket_of(start, HOUR)
        try:
            with self._writing():
                service_id = self._service_id(self._db, service, create=True)
                assert service_id is not None
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO profiles(service_id, host, start_ts, end_ts, cpu_avg, mem_avg, "
                    "samples, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        service_id,
                        profile.hostname,
                        start,
                        end,
                        profile.cpu_avg,
                        profile.mem_avg,
                        profile.total,
                        profile.digest,
                    ),
                )
                if cursor.rowcount != 1:
                    stored = self._db.execute(
                        "SELECT digest FROM profiles WHERE service_id = ? AND start_ts = ? AND host = ? "
                        "AND end_ts = ?",
                        (service_id, start, profile.hostname, end),
                    ).fetchone()
                    return Outcome.DUPLICATE if stored[0] in (None, profile.digest) else Outcome.CONFLICT
                samples = profile.samples
                part = parts.from_entries(
                    self._label_ids(list(map(_LABEL, samples))),
                    self._stack_ids(list(map(_STACK, samples)), hour),
                    list(map(_COUNT, samples)),
                )
                self._db.execute(
                    "INSERT INTO profile_samples VALUES (?, ?, ?)", (cursor.lastrowid, *part.encode())
                )
                self._merge_late(service_id, start, profile.hostname, part)
        except BaseException:
            self._forget()  # ids inserted by the rolled-back transaction are gone
            raise
        return Outcome.STORED

    def _forget(self) -> None:
        with self._lock:
            self._label_cache.clear()
            self._stack_cache.clear()
            self._stack_texts.clear()
            self._touched.clear()

    def _remember_text(self, stack_id: int, text: str) -> None:
        if len(self._stack_texts) >= _STACK_CACHE_ENTRIES:
            self._stack_texts.clear()
        self._stack_texts[stack_id] = text

    def _merge_late(self, service_id: int, start: int, host: str, part: parts.Part) -> None:
        """Add a profile to the rollups of its buckets that were built before it arrived."""
        for width, per_host in ROLLUPS.items():
            bucket = bucket_of(start, width)
            if bucket >= self._through(self._db, service_id, width):
                continue
            for rollup_host in (host, ALL_HOSTS) if per_host else (ALL_HOSTS,):
                key = (service_id, width, bucket, rollup_host)
                row = self._db.execute(
                    "SELECT labels, data FROM rollup_samples "
                    "WHERE service_id = ? AND width = ? AND bucket = ? AND host = ?",
                    key,
                ).fetchone()
                merged = parts.merge(
                    [part] if row is None else [parts.decode(row[0], row[1], wide=True), part]
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO rollup_samples VALUES (?, ?, ?, ?, ?, ?)",
                    (*key, *merged.encode()),
                )

    # -- rollups and retention ------------------------------------------------------------------

    @staticmethod
    def _through(db: sqlite3.Connection, service_id: int, width: int) -> int:
        """Buckets of `width` before this are rolled up."""
        row = db.execute(
            "SELECT through FROM rollups WHERE service_id = ? AND width = ?", (service_id, width)
        ).fetchone()
        return int(row[0]) if row else 0

    def roll_up(self, now: datetime) -> None:
        """Build the rollups of every bucket that is over, one bucket per transaction, in time order.

        The mark is read inside each write transaction: studio processes sharing the file
        (--workers) never roll the same bucket up twice.
        """
        with self._read_lock:
            services = [row[0] for row in self._reader.execute("SELECT id FROM services").fetchall()]
        for service_id in services:
            for width, per_host in ROLLUPS.items():
                until = bucket_of(to_epoch(now) - ROLLUP_GRACE, width)
                more = True
                while more:
                    with self._read_lock:  # usually nothing is due: no write lock taken then
                        if self._through(self._reader, service_id, width) >= until:
                            break
                    with self._writing():  # one bucket at a time: ingest waits for one bucket at most
                        more = self._roll_up_next(service_id, width, per_host, until)

    def _roll_up_next(self, service_id: int, width: int, per_host: bool, until: int) -> bool:
        """Roll up the next bucket with profiles before `until`; False when there is none left."""
        through = self._through(self._db, service_id, width)
        row = self._db.execute(
            "SELECT min(start_ts) FROM profiles p JOIN profile_samples s ON s.profile_id = p.id "
            "WHERE service_id = ? AND start_ts >= ? AND start_ts < ?",
            (service_id, through, until),
        ).fetchone()
        if row[0] is None:
            if until > through:
                self._db.execute(
                    "INSERT OR REPLACE INTO rollups VALUES (?, ?, ?)", (service_id, width, until)
                )
            return False
        bucket = bucket_of(int(row[0]), width)
        by_host: dict[str, list[parts.Part]] = {}
        for host, labels, data in self._db.execute(
            "SELECT host, labels, data FROM profiles p JOIN profile_samples s ON s.profile_id = p.id "
            "WHERE service_id = ? AND start_ts >= ? AND start_ts < ?",
            (service_id, bucket, bucket + width),
        ):
            by_host.setdefault(host, []).append(parts.decode(labels, data, wide=False))
        if per_host:
            merged = {host: parts.merge(host_parts) for host, host_parts in by_host.items()}
            merged[ALL_HOSTS] = parts.merge(merged.values())
        else:
            merged = {ALL_HOSTS: parts.merge(part for host_parts in by_host.values() for part in host_parts)}
        self._db.executemany(
            "INSERT OR REPLACE INTO rollup_samples VALUES (?, ?, ?, ?, ?, ?)",
            ((service_id, width, bucket, host, *part.encode()) for host, part in merged.items()),
        )
        self._db.execute(
            "INSERT OR REPLACE INTO rollups VALUES (?, ?, ?)", (service_id, width, bucket + width)
        )
        return True

    def apply_retention(self, now: datetime, minutes_for: timedelta, hours_for: timedelta) -> None:
        """Roll finished hours up; drop profiles' samples past `minutes_for`, everything past `hours_for`."""
        self.roll_up(now)
        minutes, hours = to_epoch(now - minutes_for), to_epoch(now - hours_for)
        with self._writing():
            self._db.execute(
                "DELETE FROM profile_samples WHERE profile_id IN "
                "(SELECT id FROM profiles WHERE start_ts < ?)",
                (minutes,),
            )
            self._db.execute(
                "DELETE FROM rollup_samples WHERE width = ? AND bucket < ?", (TEN_MINUTES, minutes)
            )
            self._db.execute("DELETE FROM rollup_samples WHERE width = ? AND bucket < ?", (HOUR, hours))
            self._db.execute("DELETE FROM profiles WHERE start_ts < ?", (hours,))
            # A profile's samples reference stacks of its hour; rollups of that hour too.
            self._db.execute("DELETE FROM stacks WHERE last_hour < ?", (bucket_of(hours, HOUR),))
        self._forget()
        self.access.expire(to_epoch(now))

    # -- queries --------------------------------------------------------------------------------

    def services(self) -> list[str]:
        with self._read_lock:
            return [row[0] for row in self._reader.execute("SELECT name FROM services ORDER BY name")]

    def _wanted_labels(self, filters: Filters) -> parts.UIntArray | None:
        """Label ids passing the container and process filters; None when neither is set."""
        if not filters.containers and not filters.processes:
            return None
        clauses: list[str] = []
        params: list[str] = []
        for column, values in (("container", filters.containers), ("process", filters.processes)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        rows = self._reader.execute(f"SELECT id FROM labels WHERE {' AND '.join(clauses)}", params)
        return np.array([row[0] for row in rows], dtype=np.uint32)

    def _rows(
        self, service_id: int, filters: Filters, *, data: bool, rollups: bool, per_host: bool
    ) -> Iterator[Row]:
        """(bucket, host, labels, data, wide) of the parts covering the filters: rollups for the whole
        buckets of the range that are rolled up (hours, then 10 minutes), profiles for the rest.
        `per_host` needs parts of single hosts even without a host filter; with `data` False, data
        is b"" (the labels are all a caller needs, and they are small)."""
        lo, hi = filters.bounds
        data_column = "data" if data else "x''"
        hosts = list(filters.hosts)
        in_hosts = f" AND host IN ({','.join('?' * len(hosts))})" if hosts else ""
        spans = [(lo, hi)]
        if rollups:
            for width, has_per_host in ROLLUPS.items():
                if (hosts or per_host) and not has_per_host:
                    continue
                covered, spans = whole_buckets(spans, width, self._through(self._reader, service_id, width))
                for first, last in covered:
                    if hosts:
                        clause, params = in_hosts, hosts
                    elif per_host:
                        clause, params = " AND host != ?", [ALL_HOSTS]
                    else:
                        clause, params = " AND host = ?", [ALL_HOSTS]
                    for bucket, host, labels, blob in self._reader.execute(
                        f"SELECT bucket, host, labels, {data_column} FROM rollup_samples "
                        f"WHERE service_id = ? AND width = ? AND bucket >= ? AND bucket < ?{clause}",
                        [service_id, width, first, last, *params],
                    ):
                        yield bucket, host, labels, blob, True
        for since, until in spans:
            for start, host, labels, blob in self._reader.execute(
                f"SELECT start_ts, host, labels, {data_column} FROM profiles p "
                "JOIN profile_samples s ON s.profile_id = p.id "
                f"WHERE service_id = ? AND start_ts >= ? AND start_ts < ?{in_hosts}",
                [service_id, since, until, *hosts],
            ):
                yield start, host, labels, blob, False

    def stacks(self, filters: Filters) -> Counter[str]:
        with self._read_lock:
            service_id = self._service_id(self._reader, filters.service, create=False)
            if service_id is None:
                return Counter()
            wanted = self._wanted_labels(filters)
            if wanted is not None and not len(wanted):
                return Counter()
            self._reader.execute("BEGIN")  # one snapshot for the rollup marks, the parts and the texts
            try:
                totals = parts.StackTotals()
                for _, _, labels, data, wide in self._rows(
                    service_id, filters, data=True, rollups=True, per_host=False
                ):
                    if wanted is None:
                        totals.add_data(data, wide)
                    else:
                        totals.add(parts.decode(labels, data, wide), wanted)
                by_id = totals.result()
                texts = self._stack_texts
                result: Counter[str] = Counter()
                missing = []
                for stack_id, count in by_id.items():
                    text = texts.get(stack_id)
                    if text is None:
                        missing.append(stack_id)
                    else:
                        result[text] = count
                for marks, chunk in _in_chunks(missing):
                    for stack_id, text in self._reader.execute(
                        f"SELECT id, text FROM stacks WHERE id IN ({marks})", chunk
                    ):
                        result[text] = by_id[stack_id]
                        self._remember_text(stack_id, text)
            finally:
                self._reader.execute("COMMIT")
        return result

    def seen(self, filters: Filters) -> Seen:
        result = Seen()
        with self._read_lock:
            service_id = self._service_id(self._reader, filters.service, create=False)
            if service_id is None:
                return result
            wanted = self._wanted_labels(filters)
            self._reader.execute("BEGIN")
            try:
                hosts: set[str] = set()
                label_ids: set[int] = set()
                for _, host, labels_blob, _, _ in self._rows(
                    service_id, filters, data=False, rollups=True, per_host=wanted is not None
                ):
                    labels = parts.decode_labels(labels_blob)["label"]
                    if wanted is not None:
                        labels = labels[np.isin(labels, wanted)]
                        if len(labels):
                            hosts.add(host)
                    label_ids.update(labels.tolist())
                if wanted is None:  # every host with a profile in the range
                    lo, hi = filters.bounds
                    host_clause = (
                        f" AND host IN ({','.join('?' * len(filters.hosts))})" if filters.hosts else ""
                    )
                    rows = self._reader.execute(
                        "SELECT DISTINCT host FROM profiles WHERE service_id = ? AND start_ts >= ? "
                        f"AND start_ts < ?{host_clause}",
                        [service_id, lo, hi, *filters.hosts],
                    )
                    hosts = {row[0] for row in rows}
                pairs = self._label_pairs(label_ids)
            finally:
                self._reader.execute("COMMIT")
        result.hosts.extend(sorted(hosts))
        result.containers.extend(sorted({container for container, _ in pairs}))
        result.processes.extend(sorted({process for _, process in pairs}))
        return result

    def _label_pairs(self, label_ids: set[int]) -> list[tuple[str, str]]:
        ids = list(label_ids)
        pairs: list[tuple[str, str]] = []
        for marks, chunk in _in_chunks(ids):
            pairs.extend(
                self._reader.execute(f"SELECT container, process FROM labels WHERE id IN ({marks})", chunk)
            )
        return pairs

    def timeseries(self, filters: Filters) -> list[TimePoint]:
        width = filters.resolution
        lo, hi = filters.bounds
        host_clause = f" AND host IN ({','.join('?' * len(filters.hosts))})" if filters.hosts else ""
        with self._read_lock:
            service_id = self._service_id(self._reader, filters.service, create=False)
            if service_id is None:
                return []
            wanted = self._wanted_labels(filters)
            self._reader.execute("BEGIN")
            try:
                rows = self._reader.execute(
                    "SELECT start_ts - start_ts % ?, SUM(samples), AVG(cpu_avg), AVG(mem_avg) FROM profiles "
                    f"WHERE service_id = ? AND start_ts >= ? AND start_ts < ?{host_clause} GROUP BY 1",
                    [width, service_id, lo, hi, *filters.hosts],
                ).fetchall()
                metrics = {bucket: (cpu, mem) for bucket, _, cpu, mem in rows}
                if wanted is None:
                    samples = {bucket: total for bucket, total, _, _ in rows}
                else:
                    samples = Counter()
                    # Minute points need the profiles; hour points may come from the rollups.
                    for start, _, labels_blob, _, _ in self._rows(
                        service_id, filters, data=False, rollups=width == HOUR, per_host=True
                    ):
                        labels = parts.decode_labels(labels_blob)
                        chosen = labels["samples"][np.isin(labels["label"], wanted)]
                        if len(chosen):
                            samples[bucket_of(start, width)] += int(chosen.sum())
            finally:
                self._reader.execute("COMMIT")
        return timepoints(dict(samples), metrics)
