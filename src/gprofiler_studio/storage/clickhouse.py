"""The fleet store: ClickHouse (18.16 and later), through clickhouse-driver's native protocol.

Profiles are written in blocks of many (batching.py: a worker's uploads wait a moment and are
acknowledged once their block is stored), each block in four statements with "each profile stored
whole, once" (clickhouse_write.py). Materialized views sum the minutes into the rollups long
queries read. Times are UInt32 epoch seconds (no server time zone involved). Every value reaches
SQL as a driver-escaped parameter. `?batch_profiles=N&batch_seconds=S` on the URL tune the blocks.
"""

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gprofiler_studio.model import (
    HOUR,
    MINUTE,
    Filters,
    Outcome,
    Profile,
    Seen,
    TimePoint,
    to_epoch,
)
from gprofiler_studio.storage.base import timepoints, whole_buckets
from gprofiler_studio.storage.batching import BatchWriter
from gprofiler_studio.storage.clickhouse_access import ClickHouseAccess
from gprofiler_studio.storage.clickhouse_write import sample_rows, write_profiles

_SCHEMA = [
    "CREATE DATABASE IF NOT EXISTS {db}",
    "CREATE TABLE IF NOT EXISTS {db}.profiles (service String, host String, start_ts UInt32, end_ts UInt32, "
    "cpu_avg Nullable(Float64), mem_avg Nullable(Float64), samples UInt64) "
    "ENGINE = ReplacingMergeTree ORDER BY (service, start_ts, host, end_ts)",
    "CREATE TABLE IF NOT EXISTS {db}.stacks (hash FixedString(16), text String) "
    "ENGINE = ReplacingMergeTree ORDER BY hash",
    "CREATE TABLE IF NOT EXISTS {db}.samples_minute (service String, bucket UInt32, host String, "
    "container String, process String, stack FixedString(16), profile_start UInt32, profile_end UInt32, "
    "count UInt64) ENGINE = SummingMergeTree(count) "
    "ORDER BY (service, bucket, host, profile_start, profile_end, container, process, stack)",
    "CREATE TABLE IF NOT EXISTS {db}.samples_hour (service String, bucket UInt32, host String, "
    "container String, process String, stack FixedString(16), count UInt64) ENGINE = SummingMergeTree(count) "
    "ORDER BY (service, bucket, host, container, process, stack)",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.samples_hour_view TO {db}.samples_hour AS "
    "SELECT service, toUInt32(bucket - bucket % 3600) AS bucket, host, container, process, stack, count "
    "FROM {db}.samples_minute",
    # The same hours merged over every host: what a flame graph of a whole fleet reads.
    "CREATE TABLE IF NOT EXISTS {db}.samples_hour_all (service String, bucket UInt32, "
    "container String, process String, stack FixedString(16), count UInt64) ENGINE = SummingMergeTree(count) "
    "ORDER BY (service, bucket, container, process, stack)",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.samples_hour_all_view TO {db}.samples_hour_all AS "
    "SELECT service, toUInt32(bucket - bucket % 3600) AS bucket, container, process, stack, count "
    "FROM {db}.samples_minute",
    # And per 10 minutes over every host: a range that is not whole hours (minutes 5 to 65) reads
    # these instead of every host's minutes.
    "CREATE TABLE IF NOT EXISTS {db}.samples_10min_all (service String, bucket UInt32, "
    "container String, process String, stack FixedString(16), count UInt64) ENGINE = SummingMergeTree(count) "
    "ORDER BY (service, bucket, container, process, stack)",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.samples_10min_all_view TO {db}.samples_10min_all AS "
    "SELECT service, toUInt32(bucket - bucket % 600) AS bucket, container, process, stack, count "
    "FROM {db}.samples_minute",
]
TEN_MINUTES = 10 * MINUTE
# The summed tables, widest first: (width, table of single hosts or None, table of all hosts).
_ROLLUPS = ((HOUR, "samples_hour", "samples_hour_all"), (TEN_MINUTES, None, "samples_10min_all"))
_MINUTES = "samples_minute"
_KNOWN_STACKS = 200_000  # stack hashes this process has stored, and texts it has read
_TEXT_CHUNK = 5_000  # hashes per query for their texts (the server takes 256 KB of query text)


class ClickHouseStore:
    def __init__(self, url: str) -> None:
        """`clickhouse://host:port/database` (native protocol port, 9000 by default)."""
        from clickhouse_driver import Client

        parts = urlsplit(url)
        self.db = (parts.path.strip("/") or "gprofiler_studio").replace("`", "")
        if not self.db.replace("_", "").isalnum():
            raise ValueError(f"database name {self.db!r}: letters, digits and _ only")
        self._client = Client(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 9000,
            user=parts.username or "default",
            password=parts.password or "",
        )
        self._lock = threading.Lock()  # one native connection: one query at a time
        self._known: set[bytes] = set()
        self._texts: dict[str, str] = {}  # hex hash -> text
        for statement in _SCHEMA:
            self._run(statement.format(db=self.db))
        self.access = ClickHouseAccess(self._run, self.db)
        options = parse_qs(parts.query)
        self._writer: BatchWriter[tuple[str, Profile], Outcome] = BatchWriter(
            self._write_batch,
            max_items=int(options.get("batch_profiles", ["500"])[0]),
            linger=float(options.get("batch_seconds", ["0.05"])[0]),
            name="clickhouse-writer",
        )
        columns = self._run(
            "SELECT name FROM system.columns WHERE database = %(d)s AND table = 'profiles'", {"d": self.db}
        )
        if ("digest",) not in columns:  # a database of an earlier version (18.16: no IF NOT EXISTS here)
            self._run(f"ALTER TABLE {self.db}.profiles ADD COLUMN digest String DEFAULT ''")

    def _run(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self._lock:
            result = self._client.execute(query, params)
        return list(result) if isinstance(result, list) else []  # an INSERT answers its row count

    def close(self) -> None:
        self._writer.close()
        with self._lock:
            self._client.disconnect()

    def add_profile(self, service: str, profile: Profile) -> Outcome:
        """Stored in the next block this worker writes (see batching.py), then answered."""
        return self._writer.submit((service, profile), sample_rows(profile))

    def _write_batch(self, items: list[tuple[str, Profile]]) -> list[Outcome]:
        return write_profiles(self._run, self.db, self._known, items)

    def services(self) -> list[str]:
        rows = self._run(
            f"SELECT DISTINCT service FROM {self.db}.profiles "
            f"UNION ALL SELECT DISTINCT service FROM {self.db}.tokens WHERE all_services = 0"
        )
        return sorted({row[0] for row in rows})

    def roll_up(self, now: datetime) -> None:
        """Nothing to do: the materialized views sum every insert into the hourly tables."""

    @staticmethod
    def _narrowing(filters: Filters, params: dict[str, Any]) -> str:
        clauses = []
        for column, values in (
            ("host", filters.hosts),
            ("container", filters.containers),
            ("process", filters.processes),
        ):
            if values:
                clauses.append(f" AND {column} IN %({column}s)s")
                params[f"{column}s"] = tuple(values)
        return "".join(clauses)

    def _source(
        self, filters: Filters, *, widths: tuple[int, ...] = (HOUR, TEN_MINUTES), per_host: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """A subquery of the samples covering the filters (host, container, process, stack, bucket,
        count): the whole buckets of the range from the summed tables of `widths` (hours, then 10
        minutes), the rest from the minutes. The views fill those tables on every insert, so every
        whole bucket is there. Without a host filter (nor `per_host`) the all-hosts tables are read,
        with host ''."""
        lo, hi = filters.bounds
        params: dict[str, Any] = {"service": filters.service}
        narrowing = self._narrowing(filters, params)
        columns = "host, container, process, stack, bucket, count"
        selects, spans = [], [(lo, hi)]
        # The minutes last, as the table that covers whatever is left (the bounds are whole minutes).
        tables = [rollup for rollup in _ROLLUPS if rollup[0] in widths] + [(MINUTE, _MINUTES, _MINUTES)]
        for width, single, merged in tables:
            table = single if filters.hosts or per_host else merged
            if table is None:
                continue
            covered, spans = whole_buckets(spans, width)
            for first, last in covered:
                index = len(params)
                params.update({f"lo{index}": first, f"hi{index}": last})
                selected = columns if table == single else columns.replace("host", "'' AS host", 1)
                selects.append(
                    f"SELECT {selected} FROM {self.db}.{table} WHERE service = %(service)s "
                    f"AND bucket >= %(lo{index})s AND bucket < %(hi{index})s{narrowing}"
                )
        return " UNION ALL ".join(selects), params

    def seen(self, filters: Filters) -> Seen:
        result = Seen()
        for column, target, per_host in (
            ("host", result.hosts, True),  # the hours merged over hosts have none
            ("container", result.containers, False),
            ("process", result.processes, False),
        ):
            source, params = self._source(filters, per_host=per_host)
            rows = self._run(f"SELECT DISTINCT {column} FROM ({source}) ORDER BY {column}", params)
            target.extend(row[0] for row in rows)
        return result

    def stacks(self, filters: Filters) -> Counter[str]:
        """Totals by stack hash from the server, texts from this process's cache (the stacks table
        is read only for hashes it has not seen: joining it in SQL cost ~170 ms per query)."""
        source, params = self._source(filters)
        # Hashes travel as hex: the driver would hand back bytes that happen to be UTF-8 as str.
        totals = self._run(f"SELECT hex(stack), sum(count) FROM ({source}) GROUP BY stack", params)
        texts = self._texts
        missing = [digest for digest, _ in totals if digest not in texts]
        if len(texts) + len(missing) > _KNOWN_STACKS:
            texts.clear()
            missing = [digest for digest, _ in totals]
        for offset in range(0, len(missing), _TEXT_CHUNK):
            chunk = missing[offset : offset + _TEXT_CHUNK]
            texts.update(
                self._run(
                    f"SELECT hex(hash), any(text) FROM {self.db}.stacks WHERE hash IN "
                    "(SELECT toFixedString(unhex(arrayJoin(%(chunk)s)), 16)) GROUP BY hash",
                    {"chunk": chunk},
                )
            )
        return Counter({texts[digest]: int(total) for digest, total in totals if digest in texts})

    def timeseries(self, filters: Filters) -> list[TimePoint]:
        width = filters.resolution
        lo, hi = filters.bounds
        # Minute points from the minutes; hour points from the summed tables (and the minutes at the ends).
        source, params = self._source(filters, widths=(HOUR, TEN_MINUTES) if width == HOUR else ())
        samples = dict(
            self._run(
                f"SELECT intDiv(bucket, {width}) * {width} AS b, sum(count) FROM ({source}) GROUP BY b",
                params,
            )
        )
        host_clause = " AND host IN %(hosts)s" if filters.hosts else ""
        params.update(lo=lo, hi=hi)
        # One row per profile first (ReplacingMergeTree may still hold a duplicate), then per bucket.
        per_profile = (
            "SELECT service, host, start_ts, any(cpu_avg) AS cpu, any(mem_avg) AS mem "
            f"FROM {self.db}.profiles WHERE service = %(service)s "
            f"AND start_ts >= %(lo)s AND start_ts < %(hi)s{host_clause} "
            "GROUP BY service, host, start_ts, end_ts"
        )
        metrics = self._run(
            f"SELECT intDiv(start_ts, {width}) * {width} AS b, avg(cpu), avg(mem) "
            f"FROM ({per_profile}) GROUP BY b",
            params,
        )
        return timepoints(samples, {int(bucket): (cpu, mem) for bucket, cpu, mem in metrics})

    def apply_retention(self, now: datetime, minutes_for: timedelta, hours_for: timedelta) -> None:
        minutes, hours = to_epoch(now - minutes_for), to_epoch(now - hours_for)
        self._run(f"ALTER TABLE {self.db}.samples_minute DELETE WHERE bucket < %(t)s", {"t": minutes})
        self._run(f"ALTER TABLE {self.db}.samples_10min_all DELETE WHERE bucket < %(t)s", {"t": minutes})
        self._run(f"ALTER TABLE {self.db}.samples_hour DELETE WHERE bucket < %(t)s", {"t": hours})
        self._run(f"ALTER TABLE {self.db}.samples_hour_all DELETE WHERE bucket < %(t)s", {"t": hours})
        self._run(f"ALTER TABLE {self.db}.profiles DELETE WHERE start_ts < %(t)s", {"t": hours})
        self.access.expire(to_epoch(now))
