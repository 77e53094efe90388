"""The SQLite store's rollups (a bucket at a time, once it is over) and retention."""

from datetime import datetime, timedelta

from gprofiler_studio.model import HOUR, bucket_of, to_epoch
from gprofiler_studio.storage import parts
from gprofiler_studio.storage.sqlite_schema import (
    ALL_HOSTS,
    ROLLUP_GRACE,
    ROLLUPS,
    TEN_MINUTES,
    SqliteBase,
)


class SqliteRollups(SqliteBase):
    def roll_up(self, now: datetime) -> None:
        """Build the rollups of every bucket that is over, one bucket per transaction, in time order.

        The mark is read inside each write transaction: studio processes sharing the file
        (--workers) never roll the same bucket up twice.
        """
        with self._read_lock:
            services = [row[0] for row in self._reader.execute("SELECT id FROM services").fetchall()]
        for service_id in services:
            for width, per_host in ROLLUPS.items():
                until = bucket_of(to_epoch(now) - ROLLUP_GRACE, width)
                more = True
                while more:
                    with self._read_lock:  # usually nothing is due: no write lock taken then
                        if self._through(self._reader, service_id, width) >= until:
                            break
                    with self._writing():  # one bucket at a time: ingest waits for one bucket at most
                        more = self._roll_up_next(service_id, width, per_host, until)

    def _roll_up_next(self, service_id: int, width: int, per_host: bool, until: int) -> bool:
        """Roll up the next bucket with profiles before `until`; False when there is none left."""
        through = self._through(self._db, service_id, width)
        row = self._db.execute(
            "SELECT min(start_ts) FROM profiles p JOIN profile_samples s ON s.profile_id = p.id "
            "WHERE service_id = ? AND start_ts >= ? AND start_ts < ?",
            (service_id, through, until),
        ).fetchone()
        if row[0] is None:
            if until > through:
                self._db.execute(
                    "INSERT OR REPLACE INTO rollups VALUES (?, ?, ?)", (service_id, width, until)
                )
            return False
        bucket = bucket_of(int(row[0]), width)
        by_host: dict[str, list[parts.Part]] = {}
        for host, labels, data in self._db.execute(
            "SELECT host, labels, data FROM profiles p JOIN profile_samples s ON s.profile_id = p.id "
            "WHERE service_id = ? AND start_ts >= ? AND start_ts < ?",
            (service_id, bucket, bucket + width),
        ):
            by_host.setdefault(host, []).append(parts.decode(labels, data, wide=False))
        if per_host:
            merged = {host: parts.merge(host_parts) for host, host_parts in by_host.items()}
            merged[ALL_HOSTS] = parts.merge(merged.values())
        else:
            merged = {ALL_HOSTS: parts.merge(part for host_parts in by_host.values() for part in host_parts)}
        self._db.executemany(
            "INSERT OR REPLACE INTO rollup_samples VALUES (?, ?, ?, ?, ?, ?)",
            ((service_id, width, bucket, host, *part.encode()) for host, part in merged.items()),
        )
        self._db.execute(
            "INSERT OR REPLACE INTO rollups VALUES (?, ?, ?)", (service_id, width, bucket + width)
        )
        return True

    def apply_retention(self, now: datetime, minutes_for: timedelta, hours_for: timedelta) -> None:
        """Roll finished hours up; drop profiles' samples past `minutes_for`, everything past `hours_for`."""
        self.roll_up(now)
        minutes, hours = to_epoch(now - minutes_for), to_epoch(now - hours_for)
        with self._writing():
            self._db.execute(
                "DELETE FROM profile_samples WHERE profile_id IN "
                "(SELECT id FROM profiles WHERE start_ts < ?)",
                (minutes,),
            )
            self._db.execute(
                "DELETE FROM rollup_samples WHERE width = ? AND bucket < ?", (TEN_MINUTES, minutes)
            )
            self._db.execute("DELETE FROM rollup_samples WHERE width = ? AND bucket < ?", (HOUR, hours))
            self._db.execute("DELETE FROM profiles WHERE start_ts < ?", (hours,))
            # A profile's samples reference stacks of its hour; rollups of that hour too.
            self._db.execute("DELETE FROM stacks WHERE last_hour < ?", (bucket_of(hours, HOUR),))
        self._forget()
        self.access.expire(to_epoch(now))
