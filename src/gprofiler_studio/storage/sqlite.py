"""The embedded store: one SQLite file in the data directory, nothing else to run.

SQLite rather than DuckDB: it is in Python's standard library (no dependency to pin or build), its
transactions make "one profile, all or nothing" trivial, and WAL mode lets queries read while an
ingest writes. What SQLite is not good at, summing millions of (stack, count) rows, it is not asked
to do: a profile is one row whose samples are packed arrays (see parts.py), and numpy sums them.

Layout:
- `profiles`: one row per profile (service, host, start, end, CPU and memory averages, total
  samples), unique on its identity, so an agent resending after a lost answer is not counted twice;
  `profile_samples` holds its part (labels and entries), kept for `--retention-days`;
- `rollup_samples`: parts merged per (service, width, bucket, host): per hour for each host and
  for all hosts together (host ''), kept for `--rollup-retention-days`, and per 10 minutes for all
  hosts, kept as long as the profiles. `roll_up` (run by studio's background loop) builds them once
  a bucket is over plus a grace for the last uploads; a profile arriving for a bucket already rolled
  up (it waited in an agent's spool) is merged into those rollups in its own transaction;
- `stacks` and `labels`: texts and (container, process) pairs stored once, referenced by id.
A query reads the rollups for the whole buckets of its range that are rolled up and the profiles for
the rest: the UI's "last hour" of a 100-host fleet sums ~6 rollups and ~15 minutes of profiles
instead of 6,000 profiles. A stack no longer referenced by any retained data is deleted by
retention (`last_hour` is the newest hour that uses it).
"""

from gprofiler_studio.storage.sqlite_query import SqliteQueries
from gprofiler_studio.storage.sqlite_rollup import SqliteRollups
from gprofiler_studio.storage.sqlite_schema import SCHEMA_VERSION, StoreFormatError
from gprofiler_studio.storage.sqlite_write import SqliteWriter

__all__ = ["SCHEMA_VERSION", "SqliteStore", "StoreFormatError"]


class SqliteStore(SqliteWriter, SqliteRollups, SqliteQueries):
    """The embedded store: its ingest, rollups and retention, and queries, over one file."""
