"""Profiles and helpers shared by the studio storage tests (pure data, no servers)."""

import concurrent.futures
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from gprofiler_studio.model import Filters, Outcome, Profile, Sample
from gprofiler_studio.storage.base import Store

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)
CLUSTER = "gp_test"  # the test cluster's name in its servers' remote_servers


def eventually(check: Callable[[], Any], expected: Any, timeout: float = 30.0) -> None:
    """ClickHouse applies deletions asynchronously (mutations): wait for them."""
    deadline = time.monotonic() + timeout
    while (value := check()) != expected:
        assert time.monotonic() < deadline, f"{value!r} != {expected!r}"
        time.sleep(0.2)


def profile(host: str, minute: int, *samples: Sample, cpu: float | None = 10.0) -> Profile:
    start = T0 + timedelta(minutes=minute)
    return Profile(host, start, start + timedelta(seconds=60), cpu, 50.0, samples)


A = Sample("", "app", "app;main;work", 30)
B = Sample(
    "web-1", "python: app.py (/srv/app.py)", "python3;appid: python: app.py (/srv/app.py);handle_[p]", 12
)


def hour(**narrow: tuple[str, ...]) -> Filters:
    return Filters("checkout", T0, T0 + timedelta(hours=1), **narrow)


def many(count: int, minute: int = 0) -> list[Profile]:
    return [profile(f"h{index}", minute, A, B) for index in range(count)]


def in_threads(store: Store, profiles: list[Profile]) -> list[Outcome | BaseException]:
    with concurrent.futures.ThreadPoolExecutor(len(profiles)) as pool:
        futures = [pool.submit(store.add_profile, "checkout", item) for item in profiles]
        return [future.exception() or future.result() for future in futures]
