"""The SQLite store's queries: rollups for the whole buckets of a range, profiles for the rest,
summed with numpy on one read snapshot."""

from collections import Counter
from collections.abc import Iterator

import numpy as np

from gprofiler_studio.model import HOUR, Filters, Seen, TimePoint, bucket_of
from gprofiler_studio.storage import parts
from gprofiler_studio.storage.base import timepoints, whole_buckets
from gprofiler_studio.storage.sqlite_schema import (
    ALL_HOSTS,
    ROLLUPS,
    Row,
    SqliteBase,
    in_chunks,
)


class SqliteQueries(SqliteBase):
    def services(self) -> list[str]:
        with self._read_lock:
            return [row[0] for row in self._reader.execute("SELECT name FROM services ORDER BY name")]

    def _wanted_labels(self, filters: Filters) -> parts.UIntArray | None:
        """Label ids passing the container and process filters; None when neither is set."""
        if not filters.containers and not filters.processes:
            return None
        clauses: list[str] = []
        params: list[str] = []
        for column, values in (("container", filters.containers), ("process", filters.processes)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        rows = self._reader.execute(f"SELECT id FROM labels WHERE {' AND '.join(clauses)}", params)
        return np.array([row[0] for row in rows], dtype=np.uint32)

    def _rows(
        self, service_id: int, filters: Filters, *, data: bool, rollups: bool, per_host: bool
    ) -> Iterator[Row]:
        """(bucket, host, labels, data, wide) of the parts covering the filters: rollups for the whole
        buckets of the range that are rolled up (hours, then 10 minutes), profiles for the rest.
        `per_host` needs parts of single hosts even without a host filter; with `data` False, data
        is b"" (the labels are all a caller needs, and they are small)."""
        lo, hi = filters.bounds
        data_column = "data" if data else "x''"
        hosts = list(filters.hosts)
        in_hosts = f" AND host IN ({','.join('?' * len(hosts))})" if hosts else ""
        spans = [(lo, hi)]
        if rollups:
            for width, has_per_host in ROLLUPS.items():
                if (hosts or per_host) and not has_per_host:
                    continue
                covered, spans = whole_buckets(spans, width, self._through(self._reader, service_id, width))
                for first, last in covered:
                    if hosts:
                        clause, params = in_hosts, hosts
                    elif per_host:
                        clause, params = " AND host != ?", [ALL_HOSTS]
                    else:
                        clause, params = " AND host = ?", [ALL_HOSTS]
                    for bucket, host, labels, blob in self._reader.execute(
                        f"SELECT bucket, host, labels, {data_column} FROM rollup_samples "
                        f"WHERE service_id = ? AND width = ? AND bucket >= ? AND bucket < ?{clause}",
                        [service_id, width, first, last, *params],
                    ):
                        yield bucket, host, labels, blob, True
        for since, until in spans:
            for start, host, labels, blob in self._reader.execute(
                f"SELECT start_ts, host, labels, {data_column} FROM profiles p "
                "JOIN profile_samples s ON s.profile_id = p.id "
                f"WHERE service_id = ? AND start_ts >= ? AND start_ts < ?{in_hosts}",
                [service_id, since, until, *hosts],
            ):
                yield start, host, labels, blob, False

    def stacks(self, filters: Filters) -> Counter[str]:
        with self._read_lock:
            service_id = self._service_id(self._reader, filters.service, create=False)
            if service_id is None:
                return Counter()
            wanted = self._wanted_labels(filters)
            if wanted is not None and not len(wanted):
                return Counter()
            self._reader.execute("BEGIN")  # one snapshot for the rollup marks, the parts and the texts
            try:
                totals = parts.StackTotals()
                for _, _, labels, data, wide in self._rows(
                    service_id, filters, data=True, rollups=True, per_host=False
                ):
                    if wanted is None:
                        totals.add_data(data, wide)
                    else:
                        totals.add(parts.decode(labels, data, wide), wanted)
                by_id = totals.result()
                texts = self._stack_texts
                result: Counter[str] = Counter()
                missing = []
                for stack_id, count in by_id.items():
                    text = texts.get(stack_id)
                    if text is None:
                        missing.append(stack_id)
                    else:
                        result[text] = count
                for marks, chunk in in_chunks(missing):
                    for stack_id, text in self._reader.execute(
                        f"SELECT id, text FROM stacks WHERE id IN ({marks})", chunk
                    ):
                        result[text] = by_id[stack_id]
                        self._remember_text(stack_id, text)
            finally:
                self._reader.execute("COMMIT")
        return result

    def seen(self, filters: Filters) -> Seen:
        result = Seen()
        with self._read_lock:
            service_id = self._service_id(self._reader, filters.service, create=False)
            if service_id is None:
                return result
            wanted = self._wanted_labels(filters)
            self._reader.execute("BEGIN")
            try:
                hosts: set[str] = set()
                label_ids: set[int] = set()
                for _, host, labels_blob, _, _ in self._rows(
                    service_id, filters, data=False, rollups=True, per_host=wanted is not None
                ):
                    labels = parts.decode_labels(labels_blob)["label"]
                    if wanted is not None:
                        labels = labels[np.isin(labels, wanted)]
                        if len(labels):
                            hosts.add(host)
                    label_ids.update(labels.tolist())
                if wanted is None:  # every host with a profile in the range
                    lo, hi = filters.bounds
                    host_clause = (
                        f" AND host IN ({','.join('?' * len(filters.hosts))})" if filters.hosts else ""
                    )
                    rows = self._reader.execute(
                        "SELECT DISTINCT host FROM profiles WHERE service_id = ? AND start_ts >= ? "
                        f"AND start_ts < ?{host_clause}",
                        [service_id, lo, hi, *filters.hosts],
                    )
                    hosts = {row[0] for row in rows}
                pairs = self._label_pairs(label_ids)
            finally:
                self._reader.execute("COMMIT")
        result.hosts.extend(sorted(hosts))
        result.containers.extend(sorted({container for container, _ in pairs}))
        result.processes.extend(sorted({process for _, process in pairs}))
        return result

    def _label_pairs(self, label_ids: set[int]) -> list[tuple[str, str]]:
        ids = list(label_ids)
        pairs: list[tuple[str, str]] = []
        for marks, chunk in in_chunks(ids):
            pairs.extend(
                self._reader.execute(f"SELECT container, process FROM labels WHERE id IN ({marks})", chunk)
            )
        return pairs

    def timeseries(self, filters: Filters) -> list[TimePoint]:
        width = filters.resolution
        lo, hi = filters.bounds
        host_clause = f" AND host IN ({','.join('?' * len(filters.hosts))})" if filters.hosts else ""
        with self._read_lock:
            service_id = self._service_id(self._reader, filters.service, create=False)
            if service_id is None:
                return []
            wanted = self._wanted_labels(filters)
            self._reader.execute("BEGIN")
            try:
                rows = self._reader.execute(
                    "SELECT start_ts - start_ts % ?, SUM(samples), AVG(cpu_avg), AVG(mem_avg) FROM profiles "
                    f"WHERE service_id = ? AND start_ts >= ? AND start_ts < ?{host_clause} GROUP BY 1",
                    [width, service_id, lo, hi, *filters.hosts],
                ).fetchall()
                metrics = {bucket: (cpu, mem) for bucket, _, cpu, mem in rows}
                if wanted is None:
                    samples = {bucket: total for bucket, total, _, _ in rows}
                else:
                    samples = Counter()
                    # Minute points need the profiles; hour points may come from the rollups.
                    for start, _, labels_blob, _, _ in self._rows(
                        service_id, filters, data=False, rollups=width == HOUR, per_host=True
                    ):
                        labels = parts.decode_labels(labels_blob)
                        chosen = labels["samples"][np.isin(labels["label"], wanted)]
                        if len(chosen):
                            samples[bucket_of(start, width)] += int(chosen.sum())
            finally:
                self._reader.execute("COMMIT")
        return timepoints(dict(samples), metrics)
