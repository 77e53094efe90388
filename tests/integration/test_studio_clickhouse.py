"""What only the ClickHouse store has: its format migration, blocks of concurrent uploads, a server or
a shard down, a cluster's shards, budgets and tokens shared by studio processes (the storage suite
every store passes is test_studio_storage.py)."""

import functools
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from gprofiler_studio.model import Outcome
from gprofiler_studio.storage.clickhouse import ClickHouseStore
from gprofiler_studio.storage.clickhouse_access import TOKEN_CACHE_S
from gprofiler_studio.tokens import Budget
from tests.clickhouse_server import cluster_config, free_port, running_clickhouse, running_zookeeper
from tests.studio_samples import CLUSTER, A, B, eventually, hour, in_threads, many, profile


def test_a_clickhouse_database_of_the_earlier_version_is_migrated(clickhouse: str) -> None:
    from clickhouse_driver import Client

    database = f"t_{uuid.uuid4().hex[:12]}"
    host, port = clickhouse.removeprefix("clickhouse://").split(":")
    client = Client(host=host, port=int(port))
    client.execute(f"CREATE DATABASE {database}")
    client.execute(  # the tables as the previous version made them
        f"CREATE TABLE {database}.tokens (hash String, service String, all_services UInt8, created UInt32) "
        "ENGINE = ReplacingMergeTree ORDER BY hash"
    )
    client.execute(
        f"CREATE TABLE {database}.profiles (service String, host String, start_ts UInt32, end_ts UInt32, "
        "cpu_avg Nullable(Float64), mem_avg Nullable(Float64), samples UInt64) "
        "ENGINE = ReplacingMergeTree ORDER BY (service, start_ts, host, end_ts)"
    )
    client.execute(f"INSERT INTO {database}.tokens VALUES", [("a" * 64, "checkout", 0, 1764000000)])
    store = ClickHouseStore(f"{clickhouse}/{database}")
    try:
        token = store.access.find_token("a" * 64)
        assert token is not None and token.service == "checkout" and token.budget == Budget()
        assert store.add_profile("checkout", profile("h1", 0, A)) is Outcome.STORED
        store.access.revoke_token("a" * 64)
        assert store.access.find_token("a" * 64) is None
    finally:
        store.close()


def test_clickhouse_writes_concurrent_uploads_in_blocks(clickhouse: str) -> None:
    store = ClickHouseStore(f"{clickhouse}/t_{uuid.uuid4().hex[:12]}?batch_seconds=0.2")
    try:
        profiles = many(24)
        # each twice, at once: the first of an identity is stored, its copy is a duplicate
        outcomes = in_threads(store, profiles + profiles)
        assert Counter(outcomes) == {Outcome.STORED: 24, Outcome.DUPLICATE: 24}
        assert store._writer.batches < 24  # blocks of several profiles, not one INSERT each
        assert store.stacks(hour()) == {A.stack: 24 * 30, B.stack: 24 * 12}
        assert store.add_profile("checkout", profiles[0]) is Outcome.DUPLICATE  # a later retry
    finally:
        store.close()


def test_clickhouse_down_acknowledges_nothing_then_stores_each_profile_once(tmp_path: Path) -> None:
    data, port = tmp_path / "clickhouse", free_port()
    database = f"t_{uuid.uuid4().hex[:12]}"
    with running_clickhouse(data, tcp=port) as url:
        store = ClickHouseStore(f"{url}/{database}")
        assert store.add_profile("checkout", profile("h-before", 0, A)) is Outcome.STORED
    try:
        outcomes = in_threads(store, many(6, minute=1))  # the server is down
        assert all(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    finally:
        store.close()
    with running_clickhouse(data, tcp=port) as url:
        store = ClickHouseStore(f"{url}/{database}")
        try:
            # the agents send again what was not acknowledged: stored once, with what was there
            assert set(in_threads(store, many(6, minute=1))) == {Outcome.STORED}
            assert store.stacks(hour()) == {A.stack: 7 * 30, B.stack: 6 * 12}
        finally:
            store.close()


def test_a_cluster_keeps_each_hosts_profiles_on_one_shard(clickhouse_cluster: str) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    store = ClickHouseStore(f"{clickhouse_cluster}/{database}?cluster={CLUSTER}")
    try:
        assert set(in_threads(store, many(12))) == {Outcome.STORED}
        assert store.stacks(hour()) == {A.stack: 12 * 30, B.stack: 12 * 12}
        per_shard = [
            store._run_on(server, f"SELECT DISTINCT host FROM {database}.samples_minute_local")
            for server in store._servers
        ]
        hosts = [{row[0] for row in rows} for rows in per_shard]
        assert all(hosts) and not hosts[0] & hosts[1] and hosts[0] | hosts[1] == {f"h{i}" for i in range(12)}
        # each shard rolled up its own hosts: one host's hour, and all hosts' (summed over the shards)
        assert store.stacks(hour(hosts=("h3",))) == {A.stack: 30, B.stack: 12}
        assert store.seen(hour()).hosts == sorted(f"h{i}" for i in range(12))
    finally:
        store.close()


def test_a_shard_down_acknowledges_nothing_then_every_profile_is_there_once(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    config = cluster_config(tmp_path / "config", CLUSTER, ports)
    database = f"t_{uuid.uuid4().hex[:12]}"
    url = "clickhouse://" + ",".join(f"127.0.0.1:{port}" for port in ports) + f"/{database}?cluster={CLUSTER}"
    with running_clickhouse(tmp_path / "shard0", tcp=ports[0], config=config):
        with running_clickhouse(tmp_path / "shard1", tcp=ports[1], config=config):
            store = ClickHouseStore(url)
            assert set(in_threads(store, many(8))) == {Outcome.STORED}
        # shard 1 is down: a block with any of its hosts fails, and is acknowledged to nobody
        outcomes = in_threads(store, many(8, minute=1))
        assert any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
        with running_clickhouse(tmp_path / "shard1", tcp=ports[1], config=config):
            # the agents send everything again (what was acknowledged too, as if its answer was lost)
            again = in_threads(store, many(8, minute=1))
            assert set(again) <= {Outcome.STORED, Outcome.DUPLICATE}, again
            assert store.stacks(hour()) == {A.stack: 16 * 30, B.stack: 16 * 12}
            store.close()


def test_a_single_servers_database_is_not_taken_for_a_clusters(clickhouse_cluster: str) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    first = clickhouse_cluster.split(",")[0]
    ClickHouseStore(f"{first}/{database}").close()  # plain tables on the first server
    with pytest.raises(ValueError, match="is not a cluster's without replicas"):
        ClickHouseStore(f"{clickhouse_cluster}/{database}?cluster={CLUSTER}")
    clustered = f"t_{uuid.uuid4().hex[:12]}"
    ClickHouseStore(f"{clickhouse_cluster}/{clustered}?cluster={CLUSTER}").close()
    with pytest.raises(ValueError, match="is not one server's"):
        ClickHouseStore(f"{first}/{clustered}")


def test_budgets_are_shared_by_studio_processes_through_their_blocks(clickhouse: str) -> None:
    url = f"{clickhouse}/t_{uuid.uuid4().hex[:12]}"
    first, second = ClickHouseStore(url), ClickHouseStore(url)
    budget, minute = Budget(profiles_per_minute=3, bytes_per_day=0), 1_800_000_000 - 1_800_000_000 % 60
    try:
        assert first.access.charge("t", minute, 100, budget) is None
        assert first.access.charge("t", minute + 1, 100, budget) is None
        # counted in `first` only until its next block is written
        assert first.add_profile("checkout", profile("h1", 0, A)) is Outcome.STORED
        assert second.access.charge("t", minute + 2, 100, budget) is None  # the third this minute
        assert first.access.charge("t", minute + 3, 100, budget) is None  # first has not seen it yet...
        assert second.add_profile("checkout", profile("h2", 0, A)) is Outcome.STORED
        assert first.access.charge("t", minute + 4, 100, budget) == 56  # ...now it has: 4 this minute
        assert second.access.charge("t", minute + 4, 100, budget) == 56  # 3 written: it was over by one
        assert first.access.charge("t", minute + 4, 100, Budget(0, 0)) is None  # no budget, not counted
    finally:
        first.close()
        second.close()


def test_a_token_revoked_elsewhere_stops_working_within_seconds(clickhouse: str) -> None:
    url = f"{clickhouse}/t_{uuid.uuid4().hex[:12]}"
    worker, admin = ClickHouseStore(url), ClickHouseStore(url)
    try:
        admin.access.add_token("a" * 64, "checkout", Budget())
        assert worker.access.find_token("a" * 64) is not None
        admin.access.revoke_token("a" * 64)
        assert admin.access.find_token("a" * 64) is None  # where it was revoked: at once
        deadline = time.monotonic() + TOKEN_CACHE_S + 1
        while worker.access.find_token("a" * 64) is not None:
            assert time.monotonic() < deadline, "still valid after the cache's time"
            time.sleep(0.2)
    finally:
        worker.close()
        admin.close()


def _local_totals(store: ClickHouseStore, server: tuple[str, int], table: str) -> int:
    rows = store._run_on(server, f"SELECT sum(count) FROM {store.db}.{table}_local")
    return int(rows[0][0])


def test_replicas_copy_every_profile_and_one_down_loses_nothing(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    database = f"t_{uuid.uuid4().hex[:12]}"
    url = "clickhouse://" + ",".join(f"127.0.0.1:{port}" for port in ports) + f"/{database}?cluster={CLUSTER}"
    with running_zookeeper(tmp_path / "zookeeper") as zookeeper:
        configs = [cluster_config(tmp_path / f"config{i}", CLUSTER, ports, zookeeper, i) for i in range(2)]
        with running_clickhouse(tmp_path / "replica1", tcp=ports[1], config=configs[1]):
            with running_clickhouse(tmp_path / "replica0", tcp=ports[0], config=configs[0]):
                store = ClickHouseStore(url)
                assert store.replicated
                # one host's minutes of the same samples: the same rows in its hour, kept twice
                assert store.add_profile("checkout", profile("h1", 0, A)) is Outcome.STORED
                assert store.add_profile("checkout", profile("h1", 1, A)) is Outcome.STORED
                assert store.stacks(hour(hosts=("h1",))) == {A.stack: 60}
            # the first replica is down: the second takes the uploads and answers the queries
            assert set(in_threads(store, many(6, minute=2))) == {Outcome.STORED}
            assert store.stacks(hour()) == {A.stack: 8 * 30, B.stack: 6 * 12}
            with running_clickhouse(tmp_path / "replica0", tcp=ports[0], config=configs[0]):
                # back: it fetches what it missed from the other replica, and nothing is counted twice
                for server in store._servers:
                    for table in ("samples_minute", "samples_hour", "samples_hour_all"):
                        totals = functools.partial(_local_totals, store, server, table)
                        eventually(totals, 8 * 30 + 6 * 12)
                assert set(in_threads(store, many(6, minute=2))) == {Outcome.DUPLICATE}
                assert store.stacks(hour()) == {A.stack: 8 * 30, B.stack: 6 * 12}
                store.close()


def test_replicated_and_unreplicated_databases_are_not_taken_for_each_other(clickhouse_replicas: str) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    first = clickhouse_replicas.split(",")[0]
    ClickHouseStore(f"{first}/{database}").close()  # one server's plain tables on a replica
    with pytest.raises(ValueError, match="is not a replicated cluster's"):
        ClickHouseStore(f"{clickhouse_replicas}/{database}?cluster={CLUSTER}")
    with pytest.raises(ValueError, match="no cluster 'elsewhere'"):
        ClickHouseStore(f"{clickhouse_replicas}/{database}?cluster=elsewhere")
    with pytest.raises(ValueError, match="quorum=3"):
        ClickHouseStore(f"{clickhouse_replicas}/{database}?cluster={CLUSTER}&quorum=3")
