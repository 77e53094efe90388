"""The storage suite every studio store passes: the embedded SQLite one and a real ClickHouse server."""

import concurrent.futures
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gprofiler_studio.model import Filters, Outcome, Profile, Sample
from gprofiler_studio.storage.base import Store
from gprofiler_studio.storage.clickhouse import ClickHouseStore
from gprofiler_studio.storage.sqlite import SqliteStore
from gprofiler_studio.tokens import Budget
from tests.clickhouse_server import CLICKHOUSE, cluster_config, free_port, running_clickhouse, running_cluster

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def clickhouse() -> Iterator[str]:
    """A ClickHouse server of its own (Debian's clickhouse-server), for the whole session."""
    if not Path(CLICKHOUSE).exists():
        pytest.fail("clickhouse-server is missing (./dev.sh setup-test installs it)")
    data = Path(tempfile.mkdtemp(prefix="gp-clickhouse-"))
    try:
        with running_clickhouse(data) as url:
            yield url
    finally:
        shutil.rmtree(data, ignore_errors=True)


CLUSTER = "gp_test"


@pytest.fixture(scope="session")
def clickhouse_cluster() -> Iterator[str]:
    """Two ClickHouse servers that know each other as the cluster `gp_test` (two shards), for the
    whole session: the store's URL prefix listing both."""
    if not Path(CLICKHOUSE).exists():
        pytest.fail("clickhouse-server is missing (./dev.sh setup-test installs it)")
    data = Path(tempfile.mkdtemp(prefix="gp-clickhouse-cluster-"))
    try:
        with running_cluster(data, CLUSTER) as (_, url):
            yield url
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["sqlite", "clickhouse", "clickhouse-cluster"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store
    if request.param == "sqlite":
        opened = SqliteStore(tmp_path / "studio.sqlite3")
    elif request.param == "clickhouse":
        server = request.getfixturevalue("clickhouse")
        opened = ClickHouseStore(f"{server}/t_{uuid.uuid4().hex[:12]}")
    else:
        servers = request.getfixturevalue("clickhouse_cluster")
        opened = ClickHouseStore(f"{servers}/t_{uuid.uuid4().hex[:12]}?cluster={CLUSTER}")
    yield opened
    opened.close()


def _eventually(check: Callable[[], Any], expected: Any, timeout: float = 30.0) -> None:
    """ClickHouse applies deletions asynchronously (mutations): wait for them."""
    deadline = time.monotonic() + timeout
    while (value := check()) != expected:
        assert time.monotonic() < deadline, f"{value!r} != {expected!r}"
        time.sleep(0.2)


def _profile(host: str, minute: int, *samples: Sample, cpu: float | None = 10.0) -> Profile:
    start = T0 + timedelta(minutes=minute)
    return Profile(host, start, start + timedelta(seconds=60), cpu, 50.0, samples)


A = Sample("", "app", "app;main;work", 30)
B = Sample(
    "web-1", "python: app.py (/srv/app.py)", "python3;appid: python: app.py (/srv/app.py);handle_[p]", 12
)


def _hour(**narrow: tuple[str, ...]) -> Filters:
    return Filters("checkout", T0, T0 + timedelta(hours=1), **narrow)


def test_stacks_are_merged_across_profiles_and_hosts(store: Store) -> None:
    assert store.add_profile("checkout", _profile("h1", 0, A, B)) is Outcome.STORED
    assert store.add_profile("checkout", _profile("h2", 1, A)) is Outcome.STORED
    assert store.stacks(_hour()) == {A.stack: 60, B.stack: 12}
    assert store.stacks(_hour(hosts=("h2",))) == {A.stack: 30}
    assert store.stacks(_hour(containers=("web-1",))) == {B.stack: 12}
    assert store.stacks(_hour(processes=("app",))) == {A.stack: 60}
    assert store.services() == ["checkout"]


def test_a_profile_of_many_distinct_stacks_comes_back_whole(store: Store) -> None:
    """More stacks than one query may name (the ClickHouse store fetches texts by hash in chunks)."""
    samples = [
        Sample("", "app", f"app;main;handler_{index};leaf_{index % 7}", 1 + index % 3)
        for index in range(12_000)
    ]
    assert store.add_profile("checkout", _profile("h1", 0, *samples)) is Outcome.STORED
    stacks = store.stacks(_hour())
    assert stacks == {sample.stack: sample.count for sample in samples}
    assert store.stacks(_hour()) == stacks  # again, from what the store keeps in memory


def test_the_same_profile_twice_is_stored_once(store: Store) -> None:
    assert store.add_profile("checkout", _profile("h1", 0, A)) is Outcome.STORED
    assert store.add_profile("checkout", _profile("h1", 0, A)) is Outcome.DUPLICATE
    assert store.stacks(_hour()) == {A.stack: 30}


def test_services_and_ranges_are_separate(store: Store) -> None:
    store.add_profile("checkout", _profile("h1", 0, A))
    store.add_profile("billing", _profile("h1", 0, B))
    store.add_profile("checkout", _profile("h1", 120, B))  # two hours later
    assert store.stacks(_hour()) == {A.stack: 30}
    assert store.stacks(Filters("nope", T0, T0 + timedelta(hours=1))) == {}


def test_filter_values_are_data_not_sql(store: Store) -> None:
    store.add_profile("checkout", _profile("h1", 0, A))
    hostile = ("h1' OR '1'='1", "h1); DROP TABLE stacks; --")
    assert store.stacks(_hour(hosts=hostile)) == {}
    assert store.stacks(Filters("checkout' OR 1=1 --", T0, T0 + timedelta(hours=1))) == {}
    assert store.stacks(_hour()) == {A.stack: 30}


def test_seen_and_timeseries(store: Store) -> None:
    store.add_profile("checkout", _profile("h1", 0, A, B, cpu=10.0))
    store.add_profile("checkout", _profile("h2", 0, A, cpu=30.0))
    store.add_profile("checkout", _profile("h1", 5, A, cpu=None))
    seen = store.seen(_hour())
    assert (seen.hosts, seen.containers, seen.processes) == (["h1", "h2"], ["", "web-1"], ["app", B.process])
    points = store.timeseries(_hour())
    assert [(p.bucket, p.samples) for p in points] == [(T0, 72), (T0 + timedelta(minutes=5), 30)]
    assert points[0].cpu_avg == 20.0 and points[1].cpu_avg is None


def test_long_ranges_read_the_hourly_rollup(store: Store) -> None:
    for minute in range(0, 180, 30):
        store.add_profile("checkout", _profile("h1", minute, A))
    week = Filters("checkout", T0 - timedelta(days=6), T0 + timedelta(days=1))
    assert week.resolution == 3600
    for _ in ("before the rollup", "after it"):
        assert store.stacks(week) == {A.stack: 180}
        assert [(p.bucket, p.samples) for p in store.timeseries(week)] == [
            (T0 + timedelta(hours=h), 60) for h in range(3)
        ]
        store.roll_up(T0 + timedelta(hours=4))


def test_ranges_mixing_rolled_up_hours_and_profiles(store: Store) -> None:
    """A range starting and ending inside hours: whole hours come from the rollup, the rest from the
    profiles; filters apply to both."""
    for minute in range(0, 180, 20):
        store.add_profile("checkout", _profile("h1", minute, A, B))
        store.add_profile("checkout", _profile("h2", minute + 1, A))
    store.roll_up(T0 + timedelta(hours=4))
    span = Filters("checkout", T0 + timedelta(minutes=30), T0 + timedelta(minutes=150))
    # minutes 40 (h1), 41 (h2), 60..140: 6 profiles of h1 and 6 of h2
    assert store.stacks(span) == {A.stack: 12 * 30, B.stack: 6 * 12}
    narrowed = Filters("checkout", span.start, span.end, hosts=("h2",))
    assert store.stacks(narrowed) == {A.stack: 6 * 30}
    narrowed = Filters("checkout", span.start, span.end, containers=("web-1",))
    assert store.stacks(narrowed) == {B.stack: 6 * 12}
    seen = store.seen(Filters("checkout", span.start, span.end, containers=("web-1",)))
    assert (seen.hosts, seen.containers, seen.processes) == (["h1"], ["web-1"], [B.process])
    seen = store.seen(span)
    assert (seen.hosts, seen.containers, seen.processes) == (["h1", "h2"], ["", "web-1"], ["app", B.process])
    points = store.timeseries(Filters("checkout", span.start, span.end, processes=(B.process,)))
    assert [(p.bucket - T0, p.samples) for p in points if p.samples] == [
        (timedelta(minutes=minute), 12) for minute in range(40, 150, 20)
    ]


def test_retention_drops_old_minutes_then_old_hours(store: Store) -> None:
    store.add_profile("checkout", _profile("h1", 0, A))
    store.add_profile("checkout", _profile("h1", 70, A))
    week = Filters("checkout", T0 - timedelta(days=1), T0 + timedelta(days=1))
    store.apply_retention(T0 + timedelta(days=2), timedelta(days=1), timedelta(days=30))
    # Minute detail is gone: a part of an hour has no data; whole hours still come from the rollup.
    _eventually(lambda: store.stacks(Filters("checkout", T0, T0 + timedelta(minutes=30))), Counter())
    assert store.stacks(_hour()) == {A.stack: 30}
    assert store.stacks(week) == {A.stack: 60}
    store.apply_retention(T0 + timedelta(days=40), timedelta(days=1), timedelta(days=30))
    _eventually(lambda: store.stacks(week), Counter())


def test_the_same_identity_with_other_content_is_a_conflict_and_the_first_is_kept(store: Store) -> None:
    first = replace(_profile("h1", 0, A), digest=b"1" * 16)
    assert store.add_profile("checkout", first) is Outcome.STORED
    assert store.add_profile("checkout", first) is Outcome.DUPLICATE
    other = replace(_profile("h1", 0, B), digest=b"2" * 16)
    assert store.add_profile("checkout", other) is Outcome.CONFLICT
    assert store.stacks(_hour()) == {A.stack: 30}


def test_tokens_are_scoped_listed_budgeted_and_revoked(store: Store) -> None:
    access = store.access
    access.add_token("a" * 64, "checkout", Budget(2, 1000))
    access.add_token("b" * 64, None, Budget())
    found = access.find_token("a" * 64)
    assert found is not None and found.service == "checkout" and found.id == "a" * 12
    assert found.budget == Budget(2, 1000) and found.last_used is None
    everyone = access.find_token("b" * 64)
    assert everyone is not None and everyone.service is None
    assert access.find_token("unknown") is None
    assert {info.id for info in access.tokens()} == {"a" * 12, "b" * 12}
    access.mark_used("a" * 64, 1_700_000_000)
    assert access.find_token("a" * 64).last_used == 1_700_000_000  # type: ignore[union-attr]
    access.set_budget("a" * 64, Budget(5, 0))
    assert access.find_token("a" * 64).budget == Budget(5, 0)  # type: ignore[union-attr]
    access.add_session("s" * 64, "a" * 64, expires=2_000_000_000)
    assert access.session_token("s" * 64, now=1_900_000_000) == "a" * 64
    assert access.session_token("s" * 64, now=2_000_000_000) is None  # expired
    access.revoke_token("a" * 64)
    assert access.find_token("a" * 64) is None
    assert [info.id for info in access.tokens()] == ["b" * 12]


def test_sessions_end_at_logout(store: Store) -> None:
    access = store.access
    access.add_token("a" * 64, "checkout", Budget())
    access.add_session("s1" * 32, "a" * 64, expires=2_000_000_000)
    access.add_session("s2" * 32, "a" * 64, expires=2_000_000_000)
    access.end_session("s1" * 32)
    assert access.session_token("s1" * 32, now=1_900_000_000) is None
    assert access.session_token("s2" * 32, now=1_900_000_000) == "a" * 64  # another browser's
    access.expire(2_000_000_001)
    _eventually(lambda: access.session_token("s2" * 32, now=1_900_000_000), None)
    assert access.session_token("s1" * 32, now=1_900_000_000) is None  # the ended one stays ended


def test_budgets_count_profiles_per_minute_and_bytes_per_day(store: Store) -> None:
    access = store.access
    budget = Budget(profiles_per_minute=2, bytes_per_day=1000)
    minute = 1_800_000_000 - 1_800_000_000 % 60 + 10
    assert access.charge("t", minute, 100, budget) is None
    assert access.charge("t", minute + 1, 100, budget) is None
    assert access.charge("t", minute + 2, 100, budget) == 48  # the third this minute: wait for the next
    assert access.charge("other", minute + 2, 100, budget) is None  # budgets are per token
    assert access.charge("t", minute + 60, 700, budget) is None  # a new minute; 900 bytes today
    wait = access.charge("t", minute + 61, 200, budget)  # 1,100 > 1,000 bytes today
    assert wait is not None and wait == 86400 - (minute + 61) % 86400
    assert access.charge("t", minute + 62, 100, Budget(0, 0)) is None  # 0: no limit


def _break_mid_profile(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next add_profile fail after it has started writing."""
    if isinstance(store, SqliteStore):

        def fail_stacks(*_: object) -> None:
            raise RuntimeError("disk gone")

        monkeypatch.setattr(store, "_stack_ids", fail_stacks)
        return
    assert isinstance(store, ClickHouseStore)
    real_run = store._run

    def fail_samples(query: str, params: Any = None) -> list[tuple[Any, ...]]:
        if query.startswith(f"INSERT INTO {store.db}.samples_minute"):
            raise RuntimeError("connection lost")
        return real_run(query, params)

    monkeypatch.setattr(store, "_run", fail_samples)


def test_a_failing_profile_leaves_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_mid_profile(store, monkeypatch)
    with pytest.raises(RuntimeError):
        store.add_profile("checkout", _profile("h1", 0, A))
    monkeypatch.undo()
    # not a duplicate: nothing was kept
    assert store.add_profile("checkout", _profile("h1", 0, A)) is Outcome.STORED
    assert store.stacks(_hour()) == {A.stack: 30}


def test_profiles_arriving_after_their_hour_was_rolled_up_still_count(store: Store) -> None:
    week = Filters("checkout", T0 - timedelta(days=6), T0 + timedelta(days=1))
    store.add_profile("checkout", _profile("h1", 0, A))
    store.roll_up(T0 + timedelta(hours=2))
    assert store.stacks(week) == {A.stack: 30}
    store.add_profile("checkout", _profile("h2", 10, A))  # late: it waited in an agent's spool
    store.add_profile("checkout", _profile("h1", 20, B))
    assert store.stacks(week) == {A.stack: 60, B.stack: 12}
    assert store.stacks(_hour()) == {A.stack: 60, B.stack: 12}
    assert store.stacks(Filters("checkout", week.start, week.end, hosts=("h2",))) == {A.stack: 30}
    store.roll_up(T0 + timedelta(hours=3))  # nothing rolled up twice
    assert store.stacks(week) == {A.stack: 60, B.stack: 12}


def test_an_embedded_store_of_format_2_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "studio.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript((FIXTURES / "studio" / "format2.sql").read_text())
    store = SqliteStore(path)
    try:
        token = store.access.find_token("a" * 64)
        assert token is not None and token.service == "checkout" and token.budget == Budget()
        assert store.access.charge("a" * 64, 1_800_000_000, 10, token.budget) is None
        resent = replace(_profile("h1", 0, A), digest=b"x" * 16)
        assert store.add_profile("checkout", resent) is Outcome.STORED
        assert store.add_profile("checkout", resent) is Outcome.DUPLICATE
    finally:
        store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (3,)


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
        assert store.add_profile("checkout", _profile("h1", 0, A)) is Outcome.STORED
        store.access.revoke_token("a" * 64)
        assert store.access.find_token("a" * 64) is None
    finally:
        store.close()


def _many(count: int, minute: int = 0) -> list[Profile]:
    return [_profile(f"h{index}", minute, A, B) for index in range(count)]


def _in_threads(store: ClickHouseStore, profiles: list[Profile]) -> list[Outcome | BaseException]:
    with concurrent.futures.ThreadPoolExecutor(len(profiles)) as pool:
        futures = [pool.submit(store.add_profile, "checkout", profile) for profile in profiles]
        return [future.exception() or future.result() for future in futures]


def test_clickhouse_writes_concurrent_uploads_in_blocks(clickhouse: str) -> None:
    store = ClickHouseStore(f"{clickhouse}/t_{uuid.uuid4().hex[:12]}?batch_seconds=0.2")
    try:
        profiles = _many(24)
        # each twice, at once: the first of an identity is stored, its copy is a duplicate
        outcomes = _in_threads(store, profiles + profiles)
        assert Counter(outcomes) == {Outcome.STORED: 24, Outcome.DUPLICATE: 24}
        assert store._writer.batches < 24  # blocks of several profiles, not one INSERT each
        assert store.stacks(_hour()) == {A.stack: 24 * 30, B.stack: 24 * 12}
        assert store.add_profile("checkout", profiles[0]) is Outcome.DUPLICATE  # a later retry
    finally:
        store.close()


def test_clickhouse_down_acknowledges_nothing_then_stores_each_profile_once(tmp_path: Path) -> None:
    data, port = tmp_path / "clickhouse", free_port()
    database = f"t_{uuid.uuid4().hex[:12]}"
    with running_clickhouse(data, tcp=port) as url:
        store = ClickHouseStore(f"{url}/{database}")
        assert store.add_profile("checkout", _profile("h-before", 0, A)) is Outcome.STORED
    try:
        outcomes = _in_threads(store, _many(6, minute=1))  # the server is down
        assert all(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    finally:
        store.close()
    with running_clickhouse(data, tcp=port) as url:
        store = ClickHouseStore(f"{url}/{database}")
        try:
            # the agents send again what was not acknowledged: stored once, with what was there
            assert set(_in_threads(store, _many(6, minute=1))) == {Outcome.STORED}
            assert store.stacks(_hour()) == {A.stack: 7 * 30, B.stack: 6 * 12}
        finally:
            store.close()


def test_a_cluster_keeps_each_hosts_profiles_on_one_shard(clickhouse_cluster: str) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    store = ClickHouseStore(f"{clickhouse_cluster}/{database}?cluster={CLUSTER}")
    try:
        assert set(_in_threads(store, _many(12))) == {Outcome.STORED}
        assert store.stacks(_hour()) == {A.stack: 12 * 30, B.stack: 12 * 12}
        per_shard = [
            store._run_on(server, f"SELECT DISTINCT host FROM {database}.samples_minute_local")
            for server in store._servers
        ]
        hosts = [{row[0] for row in rows} for rows in per_shard]
        assert all(hosts) and not hosts[0] & hosts[1] and hosts[0] | hosts[1] == {f"h{i}" for i in range(12)}
        # each shard rolled up its own hosts: one host's hour, and all hosts' (summed over the shards)
        assert store.stacks(_hour(hosts=("h3",))) == {A.stack: 30, B.stack: 12}
        assert store.seen(_hour()).hosts == sorted(f"h{i}" for i in range(12))
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
            assert set(_in_threads(store, _many(8))) == {Outcome.STORED}
        # shard 1 is down: a block with any of its hosts fails, and is acknowledged to nobody
        outcomes = _in_threads(store, _many(8, minute=1))
        assert any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
        with running_clickhouse(tmp_path / "shard1", tcp=ports[1], config=config):
            # the agents send everything again (what was acknowledged too, as if its answer was lost)
            again = _in_threads(store, _many(8, minute=1))
            assert set(again) <= {Outcome.STORED, Outcome.DUPLICATE}, again
            assert store.stacks(_hour()) == {A.stack: 16 * 30, B.stack: 16 * 12}
            store.close()


def test_a_single_servers_database_is_not_taken_for_a_clusters(clickhouse_cluster: str) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    first = clickhouse_cluster.split(",")[0]
    ClickHouseStore(f"{first}/{database}").close()  # plain tables on the first server
    with pytest.raises(ValueError, match="is not a cluster's"):
        ClickHouseStore(f"{clickhouse_cluster}/{database}?cluster={CLUSTER}")
    clustered = f"t_{uuid.uuid4().hex[:12]}"
    ClickHouseStore(f"{clickhouse_cluster}/{clustered}?cluster={CLUSTER}").close()
    with pytest.raises(ValueError, match="is not one server's"):
        ClickHouseStore(f"{first}/{clustered}")
