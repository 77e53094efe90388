"""The storage suite every studio store passes: the embedded SQLite one, a real ClickHouse server, a
cluster of two shards, and one shard of two replicas with a ZooKeeper (the ClickHouse-only tests are
in test_studio_clickhouse.py)."""

import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gprofiler_studio.model import Filters, Outcome, Sample
from gprofiler_studio.storage.base import Store
from gprofiler_studio.storage.clickhouse import ClickHouseStore
from gprofiler_studio.storage.sqlite import SqliteStore
from gprofiler_studio.tokens import Budget
from tests.studio_samples import CLUSTER, T0, A, B, eventually, hour, profile

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(params=["sqlite", "clickhouse", "clickhouse-cluster", "clickhouse-replicated"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store
    database = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        opened = SqliteStore(tmp_path / "studio.sqlite3")
    elif request.param == "clickhouse":
        opened = ClickHouseStore(f"{request.getfixturevalue('clickhouse')}/{database}")
    elif request.param == "clickhouse-cluster":
        opened = ClickHouseStore(
            f"{request.getfixturevalue('clickhouse_cluster')}/{database}?cluster={CLUSTER}"
        )
    else:
        opened = ClickHouseStore(
            f"{request.getfixturevalue('clickhouse_replicas')}/{database}?cluster={CLUSTER}"
        )
        assert isinstance(opened, ClickHouseStore) and opened.replicated and opened.quorum == 1
    yield opened
    opened.close()


def test_stacks_are_merged_across_profiles_and_hosts(store: Store) -> None:
    assert store.add_profile("checkout", profile("h1", 0, A, B)) is Outcome.STORED
    assert store.add_profile("checkout", profile("h2", 1, A)) is Outcome.STORED
    assert store.stacks(hour()) == {A.stack: 60, B.stack: 12}
    assert store.stacks(hour(hosts=("h2",))) == {A.stack: 30}
    assert store.stacks(hour(containers=("web-1",))) == {B.stack: 12}
    assert store.stacks(hour(processes=("app",))) == {A.stack: 60}
    assert store.services() == ["checkout"]


def test_a_profile_of_many_distinct_stacks_comes_back_whole(store: Store) -> None:
    """More stacks than one query may name (the ClickHouse store fetches texts by hash in chunks)."""
    samples = [
        Sample("", "app", f"app;main;handler_{index};leaf_{index % 7}", 1 + index % 3)
        for index in range(12_000)
    ]
    assert store.add_profile("checkout", profile("h1", 0, *samples)) is Outcome.STORED
    stacks = store.stacks(hour())
    assert stacks == {sample.stack: sample.count for sample in samples}
    assert store.stacks(hour()) == stacks  # again, from what the store keeps in memory


def test_the_same_profile_twice_is_stored_once(store: Store) -> None:
    assert store.add_profile("checkout", profile("h1", 0, A)) is Outcome.STORED
    assert store.add_profile("checkout", profile("h1", 0, A)) is Outcome.DUPLICATE
    assert store.stacks(hour()) == {A.stack: 30}


def test_services_and_ranges_are_separate(store: Store) -> None:
    store.add_profile("checkout", profile("h1", 0, A))
    store.add_profile("billing", profile("h1", 0, B))
    store.add_profile("checkout", profile("h1", 120, B))  # two hours later
    assert store.stacks(hour()) == {A.stack: 30}
    assert store.stacks(Filters("nope", T0, T0 + timedelta(hours=1))) == {}


def test_filter_values_are_data_not_sql(store: Store) -> None:
    store.add_profile("checkout", profile("h1", 0, A))
    hostile = ("h1' OR '1'='1", "h1); DROP TABLE stacks; --")
    assert store.stacks(hour(hosts=hostile)) == {}
    assert store.stacks(Filters("checkout' OR 1=1 --", T0, T0 + timedelta(hours=1))) == {}
    assert store.stacks(hour()) == {A.stack: 30}


def test_seen_and_timeseries(store: Store) -> None:
    store.add_profile("checkout", profile("h1", 0, A, B, cpu=10.0))
    store.add_profile("checkout", profile("h2", 0, A, cpu=30.0))
    store.add_profile("checkout", profile("h1", 5, A, cpu=None))
    seen = store.seen(hour())
    assert (seen.hosts, seen.containers, seen.processes) == (["h1", "h2"], ["", "web-1"], ["app", B.process])
    points = store.timeseries(hour())
    assert [(p.bucket, p.samples) for p in points] == [(T0, 72), (T0 + timedelta(minutes=5), 30)]
    assert points[0].cpu_avg == 20.0 and points[1].cpu_avg is None


def test_long_ranges_read_the_hourly_rollup(store: Store) -> None:
    for minute in range(0, 180, 30):
        store.add_profile("checkout", profile("h1", minute, A))
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
        store.add_profile("checkout", profile("h1", minute, A, B))
        store.add_profile("checkout", profile("h2", minute + 1, A))
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
    store.add_profile("checkout", profile("h1", 0, A))
    store.add_profile("checkout", profile("h1", 70, A))
    week = Filters("checkout", T0 - timedelta(days=1), T0 + timedelta(days=1))
    store.apply_retention(T0 + timedelta(days=2), timedelta(days=1), timedelta(days=30))
    # Minute detail is gone: a part of an hour has no data; whole hours still come from the rollup.
    eventually(lambda: store.stacks(Filters("checkout", T0, T0 + timedelta(minutes=30))), Counter())
    assert store.stacks(hour()) == {A.stack: 30}
    assert store.stacks(week) == {A.stack: 60}
    store.apply_retention(T0 + timedelta(days=40), timedelta(days=1), timedelta(days=30))
    eventually(lambda: store.stacks(week), Counter())


def test_the_same_identity_with_other_content_is_a_conflict_and_the_first_is_kept(store: Store) -> None:
    first = replace(profile("h1", 0, A), digest=b"1" * 16)
    assert store.add_profile("checkout", first) is Outcome.STORED
    assert store.add_profile("checkout", first) is Outcome.DUPLICATE
    other = replace(profile("h1", 0, B), digest=b"2" * 16)
    assert store.add_profile("checkout", other) is Outcome.CONFLICT
    assert store.stacks(hour()) == {A.stack: 30}


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
    eventually(lambda: access.session_token("s2" * 32, now=1_900_000_000), None)
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
    real_run = store._run_block

    def fail_samples(query: str, params: Any = None) -> list[tuple[Any, ...]]:
        if query.startswith(f"INSERT INTO {store.db}.samples_minute"):
            raise RuntimeError("connection lost")
        return real_run(query, params)

    monkeypatch.setattr(store, "_run_block", fail_samples)


def test_a_failing_profile_leaves_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_mid_profile(store, monkeypatch)
    with pytest.raises(RuntimeError):
        store.add_profile("checkout", profile("h1", 0, A))
    monkeypatch.undo()
    # not a duplicate: nothing was kept
    assert store.add_profile("checkout", profile("h1", 0, A)) is Outcome.STORED
    assert store.stacks(hour()) == {A.stack: 30}


def test_profiles_arriving_after_their_hour_was_rolled_up_still_count(store: Store) -> None:
    week = Filters("checkout", T0 - timedelta(days=6), T0 + timedelta(days=1))
    store.add_profile("checkout", profile("h1", 0, A))
    store.roll_up(T0 + timedelta(hours=2))
    assert store.stacks(week) == {A.stack: 30}
    store.add_profile("checkout", profile("h2", 10, A))  # late: it waited in an agent's spool
    store.add_profile("checkout", profile("h1", 20, B))
    assert store.stacks(week) == {A.stack: 60, B.stack: 12}
    assert store.stacks(hour()) == {A.stack: 60, B.stack: 12}
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
        resent = replace(profile("h1", 0, A), digest=b"x" * 16)
        assert store.add_profile("checkout", resent) is Outcome.STORED
        assert store.add_profile("checkout", resent) is Outcome.DUPLICATE
    finally:
        store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (3,)
