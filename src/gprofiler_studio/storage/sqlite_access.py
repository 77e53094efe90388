"""Tokens, sessions and ingest budgets in the embedded store's SQLite file (see sqlite.py).

Every check reads the database, so a token revoked or a session ended by one studio process is
refused by all the others at their next request. A budget is counted in the same write lock as the
other writes (`writing`), so `--workers N` share it exactly.
"""

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable

from gprofiler_studio.model import DAY, MINUTE
from gprofiler_studio.storage.base import budget_wait
from gprofiler_studio.tokens import Budget, TokenInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, service_id INTEGER REFERENCES services(id), created INTEGER NOT NULL,
    last_used INTEGER, profiles_per_minute INTEGER NOT NULL DEFAULT 600,
    bytes_per_day INTEGER NOT NULL DEFAULT 10737418240);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY, token_hash TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS token_usage (
    token_hash TEXT NOT NULL, unit TEXT NOT NULL, period INTEGER NOT NULL, amount INTEGER NOT NULL,
    PRIMARY KEY (token_hash, unit, period));
"""
# What format 2 lacks of the above (its tokens table had the first three columns only).
MIGRATE_FROM_2 = (
    "ALTER TABLE tokens ADD COLUMN last_used INTEGER",
    "ALTER TABLE tokens ADD COLUMN profiles_per_minute INTEGER NOT NULL DEFAULT 600",
    "ALTER TABLE tokens ADD COLUMN bytes_per_day INTEGER NOT NULL DEFAULT 10737418240",
)
_COLUMNS = "t.hash, s.name, t.created, t.last_used, t.profiles_per_minute, t.bytes_per_day"


def _token(row: tuple[str, str | None, int, int | None, int, int]) -> TokenInfo:
    return TokenInfo(row[0], row[1], row[2], row[3], Budget(row[4], row[5]))


class SqliteAccess:
    def __init__(
        self,
        db: sqlite3.Connection,
        reader: sqlite3.Connection,
        read_lock: threading.Lock,
        writing: Callable[[], contextlib.AbstractContextManager[None]],
        service_id: Callable[[sqlite3.Connection, str, bool], int | None],
    ) -> None:
        self._db, self._reader, self._read_lock, self._writing = db, reader, read_lock, writing
        self._service_id = service_id

    def add_token(self, token_hash: str, service: str | None, budget: Budget) -> None:
        with self._writing():
            service_id = self._service_id(self._db, service, True) if service is not None else None
            self._db.execute(
                "INSERT INTO tokens(hash, service_id, created, profiles_per_minute, bytes_per_day) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_hash, service_id, int(time.time()), budget.profiles_per_minute, budget.bytes_per_day),
            )

    def find_token(self, token_hash: str) -> TokenInfo | None:
        with self._read_lock:
            row = self._reader.execute(
                f"SELECT {_COLUMNS} FROM tokens t LEFT JOIN services s ON s.id = t.service_id "
                "WHERE t.hash = ?",
                (token_hash,),
            ).fetchone()
        return None if row is None else _token(row)

    def tokens(self) -> list[TokenInfo]:
        with self._read_lock:
            rows = self._reader.execute(
                f"SELECT {_COLUMNS} FROM tokens t LEFT JOIN services s ON s.id = t.service_id "
                "ORDER BY t.created, t.hash"
            ).fetchall()
        return [_token(row) for row in rows]

    def set_budget(self, token_hash: str, budget: Budget) -> None:
        with self._writing():
            self._db.execute(
                "UPDATE tokens SET profiles_per_minute = ?, bytes_per_day = ? WHERE hash = ?",
                (budget.profiles_per_minute, budget.bytes_per_day, token_hash),
            )

    def revoke_token(self, token_hash: str) -> None:
        with self._writing():
            self._db.execute("DELETE FROM tokens WHERE hash = ?", (token_hash,))
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
            self._db.execute("DELETE FROM token_usage WHERE token_hash = ?", (token_hash,))

    def mark_used(self, token_hash: str, when: int) -> None:
        with self._writing():
            self._db.execute("UPDATE tokens SET last_used = ? WHERE hash = ?", (when, token_hash))

    def add_session(self, session_hash: str, token_hash: str, expires: int) -> None:
        with self._writing():
            self._db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (session_hash, token_hash, expires))

    def session_token(self, session_hash: str, now: int) -> str | None:
        with self._read_lock:
            row = self._reader.execute(
                "SELECT token_hash FROM sessions WHERE hash = ? AND expires > ?", (session_hash, now)
            ).fetchone()
        return None if row is None else str(row[0])

    def end_session(self, session_hash: str) -> None:
        with self._writing():
            self._db.execute("DELETE FROM sessions WHERE hash = ?", (session_hash,))

    def charge(self, token_hash: str, now: int, size: int, budget: Budget) -> int | None:
        minute, day = now - now % MINUTE, now - now % DAY
        with self._writing():
            used = dict(
                self._db.execute(
                    "SELECT unit, amount FROM token_usage WHERE token_hash = ? AND "
                    "((unit = 'profiles' AND period = ?) OR (unit = 'bytes' AND period = ?))",
                    (token_hash, minute, day),
                ).fetchall()
            )
            wait = budget_wait(now, used.get("profiles", 0), used.get("bytes", 0), size, budget)
            if wait is None:
                self._db.executemany(
                    "INSERT INTO token_usage VALUES (?, ?, ?, ?) ON CONFLICT (token_hash, unit, period) "
                    "DO UPDATE SET amount = amount + excluded.amount",
                    [(token_hash, "profiles", minute, 1), (token_hash, "bytes", day, size)],
                )
        return wait

    def expire(self, now: int) -> None:
        with self._writing():
            self._db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            self._db.execute("DELETE FROM token_usage WHERE period < ?", (now - now % DAY - DAY,))
