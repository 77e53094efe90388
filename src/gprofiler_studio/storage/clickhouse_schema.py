"""The ClickHouse store's tables, for one server or for a cluster of shards.

One server: each table as named. A cluster (`?cluster=NAME`, a cluster of the servers'
`remote_servers` configuration): each table as `<name>_local` on every server, and `<name>` as a
`Distributed` table over those, so every query and insert of the store reads and writes the same
names either way. Rows are sharded by host where they have one (one host's profiles stay together,
so its rollups are made on its shard), stack texts and access rows by their hash. The
materialized views run on each shard, from its local minutes into its local rollups; the
all-hosts rollups are then partial sums per shard, which every query sums again (GROUP BY).
There is no `ON CLUSTER` (it needs ZooKeeper): the store creates the tables on each server.

Where the servers have a ZooKeeper (`replicated`), each local table is the Replicated engine of its
kind, at `/clickhouse/tables/{shard}/<database>/<table>` with the replica `{replica}`: the servers'
`macros` say which shard each holds and its name, and the replicas of a shard (`remote_servers`, with
`internal_replication`) copy each other's parts.
"""

from dataclasses import dataclass

from gprofiler_studio.storage.clickhouse_access import TOKEN_COLUMNS


@dataclass(frozen=True)
class Table:
    name: str
    columns: str
    engine: str
    shard_key: str  # a cluster's Distributed table sends each row to a shard by this


@dataclass(frozen=True)
class View:
    name: str
    target: str
    source: str
    select: str  # the columns, as the target has them


_SAMPLE = (
    "service String, bucket UInt32, container String, process String, stack FixedString(16), count UInt64"
)
TABLES = (
    Table(
        "profiles",
        "service String, host String, start_ts UInt32, end_ts UInt32, cpu_avg Nullable(Float64), "
        "mem_avg Nullable(Float64), samples UInt64, digest String DEFAULT ''",
        "ReplacingMergeTree ORDER BY (service, start_ts, host, end_ts)",
        "cityHash64(host)",
    ),
    Table(
        "stacks", "hash FixedString(16), text String", "ReplacingMergeTree ORDER BY hash", "cityHash64(hash)"
    ),
    Table(
        "samples_minute",
        "service String, bucket UInt32, host String, container String, process String, "
        "stack FixedString(16), profile_start UInt32, profile_end UInt32, count UInt64",
        "SummingMergeTree(count) "
        "ORDER BY (service, bucket, host, profile_start, profile_end, container, process, stack)",
        "cityHash64(host)",
    ),
    Table(
        "samples_hour",
        "service String, bucket UInt32, host String, container String, process String, "
        "stack FixedString(16), count UInt64",
        "SummingMergeTree(count) ORDER BY (service, bucket, host, container, process, stack)",
        "cityHash64(host)",
    ),
    # The same hours merged over every host: what a flame graph of a whole fleet reads.
    Table(
        "samples_hour_all",
        _SAMPLE,
        "SummingMergeTree(count) ORDER BY (service, bucket, container, process, stack)",
        "rand()",
    ),
    # And per 10 minutes over every host: a range that is not whole hours (minutes 5 to 65) reads
    # these instead of every host's minutes.
    Table(
        "samples_10min_all",
        _SAMPLE,
        "SummingMergeTree(count) ORDER BY (service, bucket, container, process, stack)",
        "rand()",
    ),
    # Access (clickhouse_access.py): a token's or session's newest row says what it is now.
    Table(
        "tokens",
        "hash String, service String, all_services UInt8, created UInt32, "
        + ", ".join(f"{column} {kind}" for column, kind in TOKEN_COLUMNS.items()),
        "ReplacingMergeTree ORDER BY hash",
        "cityHash64(hash)",
    ),
    Table(
        "token_seen", "hash String, seen UInt32", "ReplacingMergeTree(seen) ORDER BY hash", "cityHash64(hash)"
    ),
    Table(
        "sessions",
        "hash String, token_hash String, expires UInt32, ended UInt8, updated UInt64",
        "ReplacingMergeTree(updated) ORDER BY hash",
        "cityHash64(hash)",
    ),
    Table(
        "token_usage",
        "hash String, unit String, period UInt32, amount UInt64",
        "SummingMergeTree(amount) ORDER BY (hash, unit, period)",
        "cityHash64(hash)",
    ),
)
VIEWS = (
    View(
        "samples_hour_view",
        "samples_hour",
        "samples_minute",
        "service, toUInt32(bucket - bucket % 3600) AS bucket, host, container, process, stack, count",
    ),
    View(
        "samples_hour_all_view",
        "samples_hour_all",
        "samples_minute",
        "service, toUInt32(bucket - bucket % 3600) AS bucket, container, process, stack, count",
    ),
    View(
        "samples_10min_all_view",
        "samples_10min_all",
        "samples_minute",
        "service, toUInt32(bucket - bucket % 600) AS bucket, container, process, stack, count",
    ),
)


def local(name: str, cluster: str | None) -> str:
    """The table that holds the rows on each server: `name` itself without a cluster."""
    return f"{name}_local" if cluster else name


def engine(table: Table, db: str, here: str, replicated: bool) -> str:
    """The table's engine, or its replicated form: `XMergeTree(args) ORDER BY ...` becomes
    `ReplicatedXMergeTree('<path in ZooKeeper>', '{replica}', args) ORDER BY ...`."""
    if not replicated:
        return table.engine
    kind, _, order = table.engine.partition(" ORDER BY ")
    family, _, arguments = kind.partition("(")
    where = [f"'/clickhouse/tables/{{shard}}/{db}/{here}'", "'{replica}'"]
    arguments = ", ".join(where + ([arguments.rstrip(")")] if arguments else []))
    return f"Replicated{family}({arguments}) ORDER BY {order}"


def statements(db: str, cluster: str | None, replicated: bool = False) -> list[str]:
    """What creates the database on one server (each server of a cluster runs them all)."""
    created = [f"CREATE DATABASE IF NOT EXISTS {db}"]
    for table in TABLES:
        here = local(table.name, cluster)
        kind = engine(table, db, here, replicated)
        created.append(f"CREATE TABLE IF NOT EXISTS {db}.{here} ({table.columns}) ENGINE = {kind}")
        if cluster:
            created.append(
                f"CREATE TABLE IF NOT EXISTS {db}.{table.name} AS {db}.{here} "
                f"ENGINE = Distributed({cluster}, {db}, {here}, {table.shard_key})"
            )
    for view in VIEWS:
        created.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view.name} TO {db}.{local(view.target, cluster)} "
            f"AS SELECT {view.select} FROM {db}.{local(view.source, cluster)}"
        )
    return created
