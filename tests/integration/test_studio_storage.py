"""The storage suite every studio store passes: the embedded SQLite one and a real ClickHouse server."""

import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gprofiler_studio.ingest import Profile, Sample
from gprofiler_studio.storage.base import Filters, Store
from gprofiler_studio.storage.clickhouse import ClickHouseStore
from gprofiler_studio.storage.sqlite import SqliteStore
from tests.clickhouse_server import CLICKHOUSE, running_clickhouse

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)


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


@pytest.fixture(params=["sqlite", "clickhouse"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store
    if request.param == "sqlite":
        opened = SqliteStore(tmp_path / "studio.sqlite3")
    else:
        server = request.getfixturevalue("clickhouse")
        opened = ClickHouseStore(f"{server}/t_{uuid.uuid4().hex[:12]}")
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
    assert store.add_profile("checkout", _profile("h1", 0, A, B))
    assert store.add_profile("checkout", _profile("h2", 1, A))
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
    assert store.add_profile("checkout", _profile("h1", 0, *samples))
    stacks = store.stacks(_hour())
    assert stacks == {sample.stack: sample.count for sample in samples}
    assert store.stacks(_hour()) == stacks  # again, from what the store keeps in memory


def test_the_same_profile_twice_is_stored_once(store: Store) -> None:
    assert store.add_profile("checkout", _profile("h1", 0, A))
    assert not store.add_profile("checkout", _profile("h1", 0, A))
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


def test_tokens_are_scoped(store: Store) -> None:
    store.add_token("hash-a", "checkout")
    store.add_token("hash-all", None)
    assert store.token_scope("hash-a") == (True, "checkout")
    assert store.token_scope("hash-all") == (True, None)
    assert store.token_scope("unknown") == (False, None)


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
    assert store.add_profile("checkout", _profile("h1", 0, A))  # not a duplicate: nothing was kept
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
