"""Tokens, sessions and ingest budgets in ClickHouse (see clickhouse.py).

ClickHouse has no UPDATE that takes effect at once (its mutations are asynchronous), so every change
is a new row: a token's newest row (by `updated`) says what it is now, revoked or not, and a
session's says whether it has ended; ReplacingMergeTree keeps only that row in the end.

Every upload asks for its token and is charged to its budget, so neither may cost an INSERT (a part
on the server) or a round trip each time:
- a token found is remembered for TOKEN_CACHE_S seconds: a token revoked (or its budget changed) by
  another studio process stops working in that process within that time, in this one at once;
- usage is counted here and written by the store's writer with each block of profiles (`take_usage`),
  as rows summed by the server: studio processes on several machines share a budget, give or take
  the uploads of their last block each (a second at most). A token without a budget is not counted
  (a budget set later counts from then).
"""

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from gprofiler_studio.model import DAY, MINUTE
from gprofiler_studio.storage.base import budget_wait
from gprofiler_studio.tokens import Budget, TokenInfo

# Columns the tokens table of earlier versions lacks (ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS).
TOKEN_COLUMNS = {
    "revoked": "UInt8 DEFAULT 0",
    "profiles_per_minute": f"UInt32 DEFAULT {Budget().profiles_per_minute}",
    "bytes_per_day": f"UInt64 DEFAULT {Budget().bytes_per_day}",
    "updated": "UInt64 DEFAULT 0",
}
_NEWEST = (
    "SELECT hash, argMax(service, updated), argMax(all_services, updated), min(created), "
    "argMax(profiles_per_minute, updated), argMax(bytes_per_day, updated), argMax(revoked, updated) "
    "FROM {db}.tokens {where} GROUP BY hash"
)

Run = Callable[..., list[tuple[Any, ...]]]
TOKEN_CACHE_S = 5.0
Usage = tuple[str, str, int]  # token hash, unit, period


def _stamp() -> int:
    """An ever-growing version for the newest-row-wins tables."""
    return time.time_ns()


class ClickHouseAccess:
    def __init__(self, run: Run, db: str, mutate: Callable[[str, str, dict[str, Any]], None]) -> None:
        """The tables are the store's (clickhouse_schema.py); `mutate(table, condition, params)`
        deletes rows (on each shard's local table in a cluster)."""
        self._run, self.db, self._mutate = run, db, mutate
        self._found: dict[str, tuple[float, TokenInfo | None]] = {}  # token hash -> (when, what)
        self._usage: Counter[Usage] = Counter()  # charged, not yet written
        self._usage_lock = threading.Lock()
        present = {row[0] for row in self._run(
            "SELECT name FROM system.columns WHERE database = %(d)s AND table = 'tokens'", {"d": db}
        )}  # fmt: skip
        for column, kind in TOKEN_COLUMNS.items():
            if column not in present:
                self._run(f"ALTER TABLE {db}.tokens ADD COLUMN {column} {kind}")

    def _write_token(self, info: TokenInfo, revoked: bool) -> None:
        self._found.pop(info.hash, None)
        self._run(
            f"INSERT INTO {self.db}.tokens (hash, service, all_services, created, revoked, "
            "profiles_per_minute, bytes_per_day, updated) VALUES",
            [(info.hash, info.service or "", 1 if info.service is None else 0, info.created, int(revoked),
              info.budget.profiles_per_minute, info.budget.bytes_per_day, _stamp())],
        )  # fmt: skip

    def _tokens(self, where: str, params: dict[str, Any] | None = None) -> list[TokenInfo]:
        rows = self._run(_NEWEST.format(db=self.db, where=where), params)
        seen: dict[str, int] = dict(
            self._run(f"SELECT hash, max(seen) FROM {self.db}.token_seen {where} GROUP BY hash", params)
        )
        return [
            TokenInfo(
                token,
                None if all_services else service,
                created,
                seen.get(token),
                Budget(per_minute, per_day),
            )
            for token, service, all_services, created, per_minute, per_day, revoked in rows
            if not revoked
        ]

    def add_token(self, token_hash: str, service: str | None, budget: Budget) -> None:
        self._write_token(TokenInfo(token_hash, service, int(time.time()), None, budget), revoked=False)

    def find_token(self, token_hash: str) -> TokenInfo | None:
        now = time.monotonic()
        cached = self._found.get(token_hash)
        if cached is not None and now - cached[0] < TOKEN_CACHE_S:
            return cached[1]
        rows = self._tokens("WHERE hash = %(h)s", {"h": token_hash})
        if len(self._found) >= 10_000:
            self._found.clear()
        self._found[token_hash] = (now, rows[0] if rows else None)
        return rows[0] if rows else None

    def tokens(self) -> list[TokenInfo]:
        return sorted(self._tokens(""), key=lambda info: (info.created, info.hash))

    def set_budget(self, token_hash: str, budget: Budget) -> None:
        info = self.find_token(token_hash)
        if info is not None:
            self._write_token(TokenInfo(info.hash, info.service, info.created, None, budget), revoked=False)

    def revoke_token(self, token_hash: str) -> None:
        info = self.find_token(token_hash)
        if info is not None:
            self._write_token(info, revoked=True)  # its sessions ask for the token, and find none

    def mark_used(self, token_hash: str, when: int) -> None:
        self._found.pop(token_hash, None)
        self._run(f"INSERT INTO {self.db}.token_seen VALUES", [(token_hash, when)])

    def add_session(self, session_hash: str, token_hash: str, expires: int) -> None:
        self._run(
            f"INSERT INTO {self.db}.sessions VALUES", [(session_hash, token_hash, expires, 0, _stamp())]
        )

    def session_token(self, session_hash: str, now: int) -> str | None:
        rows = self._run(
            f"SELECT argMax(token_hash, updated), argMax(expires, updated), argMax(ended, updated) "
            f"FROM {self.db}.sessions WHERE hash = %(h)s GROUP BY hash",
            {"h": session_hash},
        )
        if not rows or rows[0][2] or rows[0][1] <= now:
            return None
        return str(rows[0][0])

    def end_session(self, session_hash: str) -> None:
        rows = self._run(
            f"SELECT argMax(token_hash, updated), argMax(expires, updated) FROM {self.db}.sessions "
            "WHERE hash = %(h)s GROUP BY hash",
            {"h": session_hash},
        )
        if rows:  # the same expiry, so that `expire` deletes both rows together
            self._run(
                f"INSERT INTO {self.db}.sessions VALUES",
                [(session_hash, rows[0][0], rows[0][1], 1, _stamp())],
            )

    def charge(self, token_hash: str, now: int, size: int, budget: Budget) -> int | None:
        minute, day = now - now % MINUTE, now - now % DAY
        profiles, size_key = (token_hash, "profiles", minute), (token_hash, "bytes", day)
        if not (budget.profiles_per_minute or budget.bytes_per_day):
            return None  # nothing to count against: nothing is written (usage is read for budgets only)
        used: dict[str, int] = dict(self._run(
            f"SELECT unit, sum(amount) FROM {self.db}.token_usage WHERE hash = %(h)s AND ((unit = "
            "'profiles' AND period = %(m)s) OR (unit = 'bytes' AND period = %(d)s)) GROUP BY unit",
            {"h": token_hash, "m": minute, "d": day},
        ))  # fmt: skip
        with self._usage_lock:
            wait = budget_wait(now, int(used.get("profiles", 0)) + self._usage[profiles],
                               int(used.get("bytes", 0)) + self._usage[size_key], size, budget)  # fmt: skip
            if wait is None:
                self._usage[profiles] += 1
                self._usage[size_key] += size
        return wait

    def take_usage(self) -> list[tuple[str, str, int, int]]:
        """The usage charged since the last call, as token_usage rows, to be written now."""
        with self._usage_lock:
            rows = [(token, unit, period, amount) for (token, unit, period), amount in self._usage.items()]
            self._usage.clear()
        return rows

    def give_back(self, rows: list[tuple[str, str, int, int]]) -> None:
        """Usage whose writing failed: written with the next block."""
        with self._usage_lock:
            for token, unit, period, amount in rows:
                self._usage[(token, unit, period)] += amount

    def expire(self, now: int) -> None:
        self._mutate("sessions", "expires <= %(t)s", {"t": now})
        self._mutate("token_usage", "period < %(t)s", {"t": now - now % DAY - DAY})
