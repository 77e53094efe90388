"""The fleet store: ClickHouse (18.16 and later), through clickhouse-driver's native protocol.

Profiles are written in blocks of many (batching.py: a worker's uploads wait a moment and are
acknowledged once their block is stored), each block in four statements with "each profile stored
whole, once" (clickhouse_write.py). Materialized views sum the minutes into the rollups long
queries read. Times are UInt32 epoch seconds (no server time zone involved). Every value reaches
SQL as a driver-escaped parameter. `?batch_profiles=N&batch_seconds=S` on the URL tune the blocks.
"""

import contextlib
import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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
from gprofiler_studio.storage.clickhouse_schema import local, statements
from gprofiler_studio.storage.clickhouse_write import sample_rows, write_profiles

TEN_MINUTES = 10 * MINUTE
# The summed tables, widest first: (width, table of single hosts or None, table of all hosts).
_ROLLUPS = ((HOUR, "samples_hour", "samples_hour_all"), (TEN_MINUTES, None, "samples_10min_all"))
_MINUTES = "samples_minute"
_KNOWN_STACKS = 200_000  # stack hashes this process has stored, and texts it has read
_TEXT_CHUNK = 5_000  # hashes per query for their texts (the server takes 256 KB of query text)


def _execute(client: Any, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    result = client.execute(query, params)
    return list(result) if isinstance(result, list) else []  # an INSERT answers its row count


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "9000")
    return host or "127.0.0.1", int(port or 9000)


class ClickHouseStore:
    def __init__(self, url: str) -> None:
        """`clickhouse://host:port[,host:port...]/database[?cluster=NAME[&quorum=N]]` (native protocol
        port, 9000 by default). Without a cluster the first host is the server and the others its
        stand-ins; with one, the hosts are the cluster's servers (every replica of every shard), each
        given the tables (clickhouse_schema.py), replicated where the servers have a ZooKeeper: an
        upload is then acknowledged once on `quorum` replicas of its shard (one by default)."""
        from clickhouse_driver import Client

        parts = urlsplit(url)
        self.db = (parts.path.strip("/") or "gprofiler_studio").replace("`", "")
        if not self.db.replace("_", "").isalnum():
            raise ValueError(f"database name {self.db!r}: letters, digits and _ only")
        options = parse_qs(parts.query)
        self.cluster = options.get("cluster", [None])[0]
        if self.cluster is not None and not self.cluster.replace("_", "").isalnum():
            raise ValueError(f"cluster name {self.cluster!r}: letters, digits and _ only")
        credentials, _, hosts = parts.netloc.rpartition("@")
        user, _, password = credentials.partition(":")
        self._servers = [_host_port(address) for address in hosts.split(",") if address] or [
            ("127.0.0.1", 9000)
        ]
        login = {"user": unquote(user) or "default", "password": unquote(password)}
        self._login = login
        # A cluster's inserts reach every shard before they are answered (not queued by the server).
        settings: dict[str, Any] = {"insert_distributed_sync": 1} if self.cluster else {}
        self.replicated, self.quorum = False, 1
        if self.cluster:
            self.replicated, replicas = self._layout(self.cluster)
            # 1 by default: on 18.16 the last part inserted with a quorum is never mutated, so the
            # retention's deletions would wait for the next insert forever on an idle shard.
            self.quorum = int(options.get("quorum", ["1"])[0])
            if not 1 <= self.quorum <= replicas:
                raise ValueError(f"quorum={self.quorum}: between 1 and the {replicas} replicas of a shard")
        if self.replicated:
            # Acknowledged once on `quorum` replicas of its shard (the others copy it moments later);
            # reads and writes go to a shard's first live replica, the one that has what was just
            # written. insert_deduplicate off: this store finds duplicates itself (identity and digest),
            # and two profiles can make equal blocks (in a rollup) that block deduplication would drop.
            settings |= {"load_balancing": "in_order", "insert_deduplicate": 0}
            if self.quorum > 1:
                settings["insert_quorum"] = self.quorum
        (host, port), others = self._servers[0], self._servers[1:]
        alternates = ",".join(f"{h}:{p}" for h, p in others)
        connect = dict(host=host, port=port, alt_hosts=alternates or None, settings=settings, **login)
        self._client = Client(**connect)
        self._lock = threading.Lock()  # one native connection: one query at a time
        # The writer's blocks go over a connection of their own: requests' queries never wait for them.
        self._writer_client = Client(**connect)
        self._known: set[bytes] = set()
        self._texts: dict[str, str] = {}  # hex hash -> text
        for server in self._servers if self.cluster else self._servers[:1]:
            # one connection: the tables, then what samples_minute is (the name was checked: no quoting)
            kind = (
                "SELECT groupArray(engine) FROM system.tables "
                f"WHERE database = '{self.db}' AND name IN ('samples_minute', 'samples_minute_local')"
            )
            engines = set(self._on(server, [*statements(self.db, self.cluster, self.replicated), kind])[0][0])
            if ("Distributed" in engines) != bool(self.cluster) or (
                any(name.startswith("Replicated") for name in engines) != self.replicated
            ):
                wanted = "a replicated cluster's" if self.replicated else "a cluster's without replicas"
                wanted = wanted if self.cluster else "one server's"
                raise ValueError(f"database {self.db!r} on {server[0]}:{server[1]} is not {wanted}")
        self.access = ClickHouseAccess(self._run, self.db, self._mutate)
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

    def _layout(self, cluster: str) -> tuple[bool, int]:
        """Whether the cluster's servers replicate (they have a ZooKeeper), and the fewest replicas of
        a shard, as the first server's configuration says (asked over one connection)."""
        from clickhouse_driver.errors import ServerException

        first = self._servers[0]
        with self._connected(first) as client:
            replicas = _execute(
                client,
                "SELECT min(replicas) FROM (SELECT count() AS replicas FROM system.clusters "
                "WHERE cluster = %(c)s GROUP BY shard_num)",
                {"c": cluster},
            )[0][0]
            if not replicas:
                raise ValueError(f"no cluster {cluster!r} in the remote_servers of {first[0]}")
            try:
                _execute(client, "SELECT count() FROM system.zookeeper WHERE path = '/'")
            except ServerException:  # no ZooKeeper configured: plain tables on each shard
                return False, int(replicas)
            macros = {row[0] for row in _execute(client, "SELECT macro FROM system.macros")}
        if not {"shard", "replica"} <= macros:
            raise ValueError(
                f"{first[0]} has a ZooKeeper but not the macros `shard` and `replica` that "
                "name its replicated tables (see the README)"
            )
        return True, int(replicas)

    @contextlib.contextmanager
    def _connected(self, server: tuple[str, int]) -> Iterator[Any]:
        """A connection of its own to one server, closed afterwards."""
        from clickhouse_driver import Client

        client = Client(host=server[0], port=server[1], **self._login)
        try:
            yield client
        finally:
            client.disconnect()

    def _on(self, server: tuple[str, int], queries: list[str], params: Any = None) -> list[tuple[Any, ...]]:
        """Statements run on one server of its own, over one connection (the tables of a cluster's
        shard, a deletion); the last one's rows."""
        result: list[tuple[Any, ...]] = []
        with self._connected(server) as client:
            for query in queries:
                result = _execute(client, query, params)
        return result

    def _run_on(self, server: tuple[str, int], query: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self._on(server, [query], params)

    def _mutate(self, table: str, condition: str, params: dict[str, Any]) -> None:
        """An ALTER ... DELETE: on the table itself, or on every shard's local table (a Distributed
        table takes no mutations)."""
        statement = f"ALTER TABLE {self.db}.{local(table, self.cluster)} DELETE WHERE {condition}"
        if self.cluster is None:
            self._run(statement, params)
            return
        for server in self._servers:
            self._on(server, [statement], params)

    def _run(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return _execute(self._client, query, params)

    def close(self) -> None:
        self._writer.close()
        with self._lock:
            with contextlib.suppress(Exception):  # the server may be gone: the usage is only counts
                self._write_usage(functools.partial(_execute, self._client))
            self._client.disconnect()
        self._writer_client.disconnect()

    def add_profile(self, service: str, profile: Profile) -> Outcome:
        """Stored in the next block this worker writes (see batching.py), then answered."""
        return self._writer.submit((service, profile), sample_rows(profile))

    def _write_batch(self, items: list[tuple[str, Profile]]) -> list[Outcome]:
        outcomes = write_profiles(self._run_block, self.db, self._known, items)
        self._write_usage(self._run_block)
        return outcomes

    def _run_block(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """A statement of the writer thread's, over its connection."""
        return _execute(self._writer_client, query, params)

    def _write_usage(self, run: Callable[..., list[tuple[Any, ...]]]) -> None:
        """The budgets charged since the last block (clickhouse_access.py): one INSERT per block."""
        usage = self.access.take_usage()
        if usage:
            try:
                run(f"INSERT INTO {self.db}.token_usage VALUES", usage)
            except Exception:
                self.access.give_back(usage)  # the profiles are stored: the usage goes with the next block
                raise

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
        self._mutate("samples_minute", "bucket < %(t)s", {"t": minutes})
        self._mutate("samples_10min_all", "bucket < %(t)s", {"t": minutes})
        self._mutate("samples_hour", "bucket < %(t)s", {"t": hours})
        self._mutate("samples_hour_all", "bucket < %(t)s", {"t": hours})
        self._mutate("profiles", "start_ts < %(t)s", {"t": hours})
        self.access.expire(to_epoch(now))
