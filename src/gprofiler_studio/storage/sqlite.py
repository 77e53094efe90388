"""The embedded store: one SQLite file in the data directory, nothing else to run.

SQLite rather than DuckDB: it is in Python's standard library (no dependency to pin or build), its
transactions make "one profile, all or nothing" trivial, WAL mode lets queries read while an ingest
writes, and the workload (many small upserts keyed by primary key) is what it is built for;
DuckDB's columnar engine shines at scans of wide tables, which the rollups already avoid.
"""

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gprofiler_studio.ingest import Profile
from gprofiler_studio.storage.base import (
    HOUR,
    MINUTE,
    Filters,
    Seen,
    TimePoint,
    bucket_of,
    stack_hash,
    timepoints,
    to_epoch,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS services (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, service_id INTEGER REFERENCES services(id), created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS profiles (
    service_id INTEGER NOT NULL, host TEXT NOT NULL, start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL,
    cpu_avg REAL, mem_avg REAL, samples INTEGER NOT NULL,
    PRIMARY KEY (service_id, host, start_ts, end_ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stacks (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rollups (service_id INTEGER PRIMARY KEY, through INTEGER NOT NULL);
"""
_SAMPLES = """
CREATE TABLE IF NOT EXISTS {table} (
    service_id INTEGER NOT NULL, bucket INTEGER NOT NULL, host TEXT NOT NULL, container TEXT NOT NULL,
    process TEXT NOT NULL, stack_id INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (service_id, bucket, host, container, process, stack_id)) WITHOUT ROWID;
"""
_TABLES = {MINUTE: "samples_minute", HOUR: "samples_hour"}
# Stack ids known to be in the table, by text: most stacks of a profile were seen before.
_STACK_CACHE_ENTRIES = 500_000


class SqliteStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # timeout: with several studio processes (--workers) a writer waits for the others' commits.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=60)
        self._lock = threading.Lock()
        self._stack_cache: dict[str, int] = {}
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA + "".join(_SAMPLES.format(table=t) for t in _TABLES.values()))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _service_id(self, name: str, create: bool) -> int | None:
        if create:
            self._db.execute("INSERT OR IGNORE INTO services(name) VALUES (?)", (name,))
        row = self._db.execute("SELECT id FROM services WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else None

    def add_token(self, token_hash: str, service: str | None) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            service_id = self._service_id(service, create=True) if service is not None else None
            created = int(datetime.now(timezone.utc).timestamp())
            self._db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token_hash, service_id, created))
            self._db.execute("COMMIT")

    def token_scope(self, token_hash: str) -> tuple[bool, str | None]:
        with self._lock:
            row = self._db.execute(
                "SELECT s.name FROM tokens t LEFT JOIN services s ON s.id = t.service_id WHERE t.hash = ?",
                (token_hash,),
            ).fetchone()
        return (False, None) if row is None else (True, row[0])

    def _stack_ids(self, stacks: Iterable[str]) -> dict[str, int]:
        cache = self._stack_cache
        ids: dict[str, int] = {}
        unknown = []
        for stack in stacks:
            stack_id = cache.get(stack)
            if stack_id is None:
                unknown.append(stack)
            else:
                ids[stack] = stack_id
        if unknown:
            ids.update(self._insert_stacks(unknown))
        return ids

    def _insert_stacks(self, stacks: list[str]) -> dict[str, int]:
        unique = {stack: stack_hash(stack) for stack in stacks}
        self._db.executemany(
            "INSERT OR IGNORE INTO stacks(hash, text) VALUES (?, ?)", ((h, s) for s, h in unique.items())
        )
        by_hash = {h: s for s, h in unique.items()}
        ids: dict[str, int] = {}
        hashes = list(by_hash)
        for offset in range(0, len(hashes), 500):
            chunk = hashes[offset : offset + 500]
            query = f"SELECT hash, id FROM stacks WHERE hash IN ({','.join('?' * len(chunk))})"
            for digest, stack_id in self._db.execute(query, chunk):
                ids[by_hash[digest]] = stack_id
        if len(self._stack_cache) + len(ids) > _STACK_CACHE_ENTRIES:
            self._stack_cache.clear()
        self._stack_cache.update(ids)
        return ids

    def add_profile(self, service: str, profile: Profile) -> bool:
        start, end = to_epoch(profile.start), to_epoch(profile.end)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                service_id = self._service_id(service, create=True)
                inserted = self._db.execute(
                    "INSERT OR IGNORE INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        service_id,
                        profile.hostname,
                        start,
                        end,
                        profile.cpu_avg,
                        profile.mem_avg,
                        profile.total,
                    ),
                ).rowcount
                if inserted:
                    ids = self._stack_ids(sample.stack for sample in profile.samples)
                    counts: Counter[tuple[str, str, int]] = Counter()
                    for sample in profile.samples:
                        counts[(sample.container, sample.process, ids[sample.stack])] += sample.count
                    # The hourly rollup is filled by _roll_up() once an hour is over; a profile for
                    # an hour already rolled up (it waited in an agent's spool) goes into both.
                    widths = (
                        [MINUTE, HOUR] if bucket_of(start, HOUR) < self._through(service_id) else [MINUTE]
                    )
                    for width in widths:
                        table, bucket = _TABLES[width], bucket_of(start, width)
                        self._db.executemany(
                            f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                            "SET count = count + excluded.count",
                            (
                                (service_id, bucket, profile.hostname, container, process, stack_id, count)
                                for (container, process, stack_id), count in counts.items()
                            ),
                        )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return bool(inserted)

    def services(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT name FROM services ORDER BY name")]

    def _through(self, service_id: int | None) -> int:
        row = self._db.execute("SELECT through FROM rollups WHERE service_id = ?", (service_id,)).fetchone()
        return int(row[0]) if row else 0

    def _roll_up(self, service_id: int, now: int) -> int:
        """Sum the minute rows of every hour that is over into the hourly table; returns the new mark.

        The mark is read inside the write transaction: studio processes sharing the file (--workers)
        never roll the same hour up twice.
        """
        until, marked = bucket_of(now, HOUR), self._through(service_id)
        if until <= marked:
            return marked
        self._db.execute("BEGIN IMMEDIATE")
        try:
            through = self._through(service_id)
            if until > through:
                self._db.execute(
                    "INSERT INTO samples_hour SELECT service_id, bucket - bucket % 3600, host, container, "
                    "process, stack_id, SUM(count) FROM samples_minute WHERE service_id = ? AND bucket >= ? "
                    "AND bucket < ? GROUP BY 1, 2, 3, 4, 5, 6 "
                    "ON CONFLICT DO UPDATE SET count = count + excluded.count",
                    (service_id, through, until),
                )
                self._db.execute("INSERT OR REPLACE INTO rollups VALUES (?, ?)", (service_id, until))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return max(until, through)

    def _source(self, filters: Filters) -> tuple[str, list[object]] | None:
        """A subquery of the filtered samples (host, container, process, stack_id, bucket, count)."""
        service_id = self._service_id(filters.service, create=False)
        if service_id is None:
            return None
        width = filters.resolution
        clauses = ["service_id = ?", "bucket >= ?", "bucket < ?"]
        params: list[object] = [service_id, bucket_of(to_epoch(filters.start), width), to_epoch(filters.end)]
        for column, values in (
            ("host", filters.hosts),
            ("container", filters.containers),
            ("process", filters.processes),
        ):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        clause = " AND ".join(clauses)
        columns = "host, container, process, stack_id"
        if width == MINUTE:
            return f"(SELECT {columns}, bucket, count FROM samples_minute WHERE {clause})", params
        # Hours that are over come from the rollup; the current one from its minutes.
        through = self._roll_up(service_id, int(datetime.now(timezone.utc).timestamp()))
        return (
            f"(SELECT {columns}, bucket, count FROM samples_hour WHERE {clause} AND bucket < ? UNION ALL "
            f"SELECT {columns}, bucket - bucket % 3600 AS bucket, count FROM samples_minute "
            f"WHERE {clause} AND bucket >= ?)",
            [*params, through, *params, through],
        )

    def seen(self, filters: Filters) -> Seen:
        result = Seen()
        with self._lock:
            source = self._source(filters)
            if source is None:
                return result
            sql, params = source
            for column, target in (
                ("host", result.hosts),
                ("container", result.containers),
                ("process", result.processes),
            ):
                rows = self._db.execute(f"SELECT DISTINCT {column} FROM {sql} ORDER BY 1", params)
                target.extend(row[0] for row in rows)
        return result

    def stacks(self, filters: Filters) -> Counter[str]:
        with self._lock:
            source = self._source(filters)
            if source is None:
                return Counter()
            sql, params = source
            rows = self._db.execute(
                f"SELECT s.text, x.total FROM (SELECT stack_id, SUM(count) AS total FROM {sql} "
                "GROUP BY stack_id) x JOIN stacks s ON s.id = x.stack_id",
                params,
            )
            return Counter({text: total for text, total in rows})

    def timeseries(self, filters: Filters) -> list[TimePoint]:
        width = filters.resolution
        with self._lock:
            source = self._source(filters)
            if source is None:
                return []
            sql, params = source
            samples = dict(
                self._db.execute(f"SELECT bucket, SUM(count) FROM {sql} GROUP BY bucket", params).fetchall()
            )
            host_clause = ""
            host_params: list[object] = []
            if filters.hosts:
                host_clause = f" AND host IN ({','.join('?' * len(filters.hosts))})"
                host_params = list(filters.hosts)
            metrics = self._db.execute(
                f"SELECT start_ts - start_ts % ?, AVG(cpu_avg), AVG(mem_avg) FROM profiles "
                f"WHERE service_id = ? AND start_ts >= ? AND start_ts < ?{host_clause} GROUP BY 1",
                [width, *params[:3], *host_params],
            ).fetchall()
        return timepoints(samples, {bucket: (cpu, mem) for bucket, cpu, mem in metrics})

    def apply_retention(self, now: datetime, minutes_for: timedelta, hours_for: timedelta) -> None:
        """Roll finished hours up; drop minute rows older than `minutes_for`, the rest past `hours_for`."""
        with self._lock:
            for (service_id,) in self._db.execute("SELECT id FROM services").fetchall():
                self._roll_up(service_id, to_epoch(now))
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM samples_minute WHERE bucket < ?", (to_epoch(now - minutes_for),))
            self._db.execute("DELETE FROM samples_hour WHERE bucket < ?", (to_epoch(now - hours_for),))
            self._db.execute("DELETE FROM profiles WHERE start_ts < ?", (to_epoch(now - hours_for),))
            self._db.execute(
                "DELETE FROM stacks WHERE id NOT IN (SELECT stack_id FROM samples_hour) "
                "AND id NOT IN (SELECT stack_id FROM samples_minute)"
            )
            self._db.execute("COMMIT")
