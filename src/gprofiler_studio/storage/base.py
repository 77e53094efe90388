"""The one interface between studio's routes and a store (embedded SQLite, or ClickHouse for fleets).

The data model is model.py. Stacks are stored once, by hash; samples are counts per (service,
host, container, process, stack, time bucket), kept at two resolutions: minutes (recent,
detailed) and hours (the rollup a week-long query reads). A profile is one transaction: all of
it or nothing, and a profile already stored (same service, host, start and end: an agent
resending after a lost acknowledgment) is not counted twice.
"""

import hashlib
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Protocol

from gprofiler_studio.model import (
    DAY,
    MINUTE,
    Filters,
    Outcome,
    Profile,
    Seen,
    TimePoint,
    bucket_of,
    ceiling_of,
)
from gprofiler_studio.tokens import Budget, TokenInfo


def stack_hash(stack: str) -> bytes:
    return hashlib.blake2b(stack.encode("utf-8"), digest_size=16).digest()


Span = tuple[int, int]  # [since, until) in epoch seconds


def whole_buckets(spans: list[Span], width: int, through: int | None = None) -> tuple[list[Span], list[Span]]:
    """Split time spans into the runs of whole `width` buckets inside them (ending by `through`, the
    end of what is summed so far, when given) and the pieces left over at their ends, which narrower
    tables (and finally the minutes or the profiles) must cover."""
    covered: list[Span] = []
    left: list[Span] = []
    for since, until in spans:
        first, last = ceiling_of(since, width), bucket_of(until, width)
        if through is not None:
            last = min(last, through)
        if first >= last:
            left.append((since, until))
            continue
        covered.append((first, last))
        left += [(since, first), (last, until)]
    return covered, [(since, until) for since, until in left if since < until]


def timepoints(
    samples: dict[int, int], metrics: dict[int, tuple[float | None, float | None]]
) -> list[TimePoint]:
    """One point per bucket (epoch seconds) with samples or host metrics, in time order."""
    points = []
    for bucket in sorted(samples.keys() | metrics.keys()):
        cpu, mem = metrics.get(bucket, (None, None))
        moment = datetime.fromtimestamp(bucket, timezone.utc)
        points.append(TimePoint(moment, int(samples.get(bucket, 0)), _number(cpu), _number(mem)))
    return points


def _number(value: float | None) -> float | None:
    """An average of no values is NULL (SQLite) or NaN (some ClickHouse versions): None either way."""
    if value is None or value != value:
        return None
    return float(value)


class AccessStore(Protocol):
    """Tokens, the web UI's sessions and the ingest budgets, shared by every studio process."""

    def add_token(self, token_hash: str, service: str | None, budget: Budget) -> None:
        """A token for a service (ingest, and reading that service), or for reading all (None)."""

    def find_token(self, token_hash: str) -> TokenInfo | None:
        """The token if it exists (not revoked)."""

    def tokens(self) -> list[TokenInfo]: ...

    def set_budget(self, token_hash: str, budget: Budget) -> None: ...

    def revoke_token(self, token_hash: str) -> None:
        """The token stops working at once, for every process; so do its sessions."""

    def mark_used(self, token_hash: str, when: int) -> None: ...

    def add_session(self, session_hash: str, token_hash: str, expires: int) -> None: ...

    def session_token(self, session_hash: str, now: int) -> str | None:
        """The token hash of a session that exists and has not expired."""

    def end_session(self, session_hash: str) -> None: ...

    def charge(self, token_hash: str, now: int, size: int, budget: Budget) -> int | None:
        """Count one upload of `size` bytes against the token's budget; if that is spent, count
        nothing and return the seconds until it is not."""

    def expire(self, now: int) -> None:
        """Forget ended sessions and budget periods that are over."""


class Store(Protocol):
    @property
    def access(self) -> AccessStore: ...

    def add_profile(self, service: str, profile: Profile) -> Outcome:
        """Store one profile atomically, unless a profile of the same identity (service, host, start
        and end) is stored: then say whether it had the same content."""

    def services(self) -> list[str]: ...

    def seen(self, filters: Filters) -> Seen: ...

    def stacks(self, filters: Filters) -> Counter[str]:
        """Merged sample counts per stack text (process first) for the filters."""

    def timeseries(self, filters: Filters) -> list[TimePoint]: ...

    def roll_up(self, now: datetime) -> None:
        """Build the hourly rollups of the hours that are over (a no-op where the database does it)."""

    def apply_retention(self, now: datetime, minutes_for: timedelta, hours_for: timedelta) -> None: ...

    def close(self) -> None: ...


def budget_wait(
    now: int, profiles_this_minute: int, bytes_today: int, size: int, budget: Budget
) -> int | None:
    """Seconds until an upload of `size` bytes fits the budget (None: it fits now)."""
    if budget.profiles_per_minute and profiles_this_minute + 1 > budget.profiles_per_minute:
        return MINUTE - now % MINUTE
    if budget.bytes_per_day and bytes_today + size > budget.bytes_per_day:
        return DAY - now % DAY
    return None
