"""The SQLite store's ingest: one profile per write transaction, stacks and labels stored once by id,
and a late profile merged into the rollups already built for its buckets."""

from gprofiler_studio.model import HOUR, Outcome, Profile, bucket_of, to_epoch
from gprofiler_studio.storage import parts
from gprofiler_studio.storage.base import stack_hash
from gprofiler_studio.storage.sqlite_schema import (
    ALL_HOSTS,
    COUNT_OF,
    LABEL_OF,
    ROLLUPS,
    STACK_CACHE_ENTRIES,
    STACK_OF,
    SqliteBase,
    in_chunks,
)


class SqliteWriter(SqliteBase):
    def _stack_ids(self, stacks: list[str], hour: int) -> list[int]:
        """The id of each stack text (new ones inserted), every one's last_hour made at least `hour`."""
        ids = list(map(self._stack_cache.get, stacks))  # most stacks of a profile are known
        if None in ids:
            inserted = self._insert_stacks(
                [stack for stack, known in zip(stacks, ids, strict=True) if known is None], hour
            )
            ids = [
                inserted[stack] if known is None else known for stack, known in zip(stacks, ids, strict=True)
            ]
        found: list[int] = ids  # type: ignore[assignment]  # no None left
        self._touch(found, hour)
        return found

    def _touch(self, ids: list[int], hour: int) -> None:
        """last_hour = max(last_hour, hour) for the stacks, once per stack and hour in this process."""
        if hour > self._touched_hour:
            self._touched_hour, self._touched = hour, set()
        stale = set(ids)
        if hour == self._touched_hour:
            stale -= self._touched
            self._touched |= stale
        chunk_ids = list(stale)
        for marks, chunk in in_chunks(chunk_ids):
            self._db.execute(
                f"UPDATE stacks SET last_hour = max(last_hour, ?) WHERE id IN ({marks})", [hour, *chunk]
            )

    def _insert_stacks(self, stacks: list[str], hour: int) -> dict[str, int]:
        unique = {stack: stack_hash(stack) for stack in stacks}
        self._db.executemany(
            "INSERT INTO stacks(hash, text, last_hour) VALUES (?, ?, ?) "
            "ON CONFLICT (hash) DO UPDATE SET last_hour = max(last_hour, excluded.last_hour)",
            ((digest, stack, hour) for stack, digest in unique.items()),
        )
        by_hash = {digest: stack for stack, digest in unique.items()}
        ids: dict[str, int] = {}
        hashes = list(by_hash)
        if len(self._stack_cache) + len(hashes) > STACK_CACHE_ENTRIES:
            self._stack_cache.clear()
        for marks, chunk in in_chunks(hashes):
            for digest, stack_id in self._db.execute(
                f"SELECT hash, id FROM stacks WHERE hash IN ({marks})", chunk
            ):
                text = by_hash[digest]
                ids[text] = self._stack_cache[text] = stack_id
                self._remember_text(stack_id, text)
        return ids

    def _label_ids(self, pairs: list[tuple[str, str]]) -> list[int]:
        ids = list(map(self._label_cache.get, pairs))
        if None in ids:
            unknown = {pair for pair, known in zip(pairs, ids, strict=True) if known is None}
            self._db.executemany("INSERT OR IGNORE INTO labels(container, process) VALUES (?, ?)", unknown)
            for pair in unknown:
                row = self._db.execute(
                    "SELECT id FROM labels WHERE container = ? AND process = ?", pair
                ).fetchone()
                self._label_cache[pair] = int(row[0])
            ids = list(map(self._label_cache.__getitem__, pairs))
        return ids  # type: ignore[return-value]  # no None left

    def add_profile(self, service: str, profile: Profile) -> Outcome:
        start, end = to_epoch(profile.start), to_epoch(profile.end)
        hour = bucket_of(start, HOUR)
        try:
            with self._writing():
                service_id = self._service_id(self._db, service, create=True)
                assert service_id is not None
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO profiles(service_id, host, start_ts, end_ts, cpu_avg, mem_avg, "
                    "samples, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        service_id,
                        profile.hostname,
                        start,
                        end,
                        profile.cpu_avg,
                        profile.mem_avg,
                        profile.total,
                        profile.digest,
                    ),
                )
                if cursor.rowcount != 1:
                    stored = self._db.execute(
                        "SELECT digest FROM profiles WHERE service_id = ? AND start_ts = ? AND host = ? "
                        "AND end_ts = ?",
                        (service_id, start, profile.hostname, end),
                    ).fetchone()
                    return Outcome.DUPLICATE if stored[0] in (None, profile.digest) else Outcome.CONFLICT
                samples = profile.samples
                part = parts.from_entries(
                    self._label_ids(list(map(LABEL_OF, samples))),
                    self._stack_ids(list(map(STACK_OF, samples)), hour),
                    list(map(COUNT_OF, samples)),
                )
                self._db.execute(
                    "INSERT INTO profile_samples VALUES (?, ?, ?)", (cursor.lastrowid, *part.encode())
                )
                self._merge_late(service_id, start, profile.hostname, part)
        except BaseException:
            self._forget()  # ids inserted by the rolled-back transaction are gone
            raise
        return Outcome.STORED

    def _merge_late(self, service_id: int, start: int, host: str, part: parts.Part) -> None:
        """Add a profile to the rollups of its buckets that were built before it arrived."""
        for width, per_host in ROLLUPS.items():
            bucket = bucket_of(start, width)
            if bucket >= self._through(self._db, service_id, width):
                continue
            for rollup_host in (host, ALL_HOSTS) if per_host else (ALL_HOSTS,):
                key = (service_id, width, bucket, rollup_host)
                row = self._db.execute(
                    "SELECT labels, data FROM rollup_samples "
                    "WHERE service_id = ? AND width = ? AND bucket = ? AND host = ?",
                    key,
                ).fetchone()
                merged = parts.merge(
                    [part] if row is None else [parts.decode(row[0], row[1], wide=True), part]
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO rollup_samples VALUES (?, ?, ?, ?, ?, ?)",
                    (*key, *merged.encode()),
                )
