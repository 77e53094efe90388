"""Studio's data model, shared by the upload decoder (ingest.py), the stores and the routes.

A `Profile` is one decoded upload: its host, times, metrics and samples (a count per container,
process and stack). Queries name what they cover with `Filters` and get `TimePoint`s, `Seen` lists
or stack counts back. Time is kept in buckets of a minute (recent, detailed) and an hour (the rollup
a week-long query reads).
"""

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

MINUTE = 60
HOUR = 3600
DAY = 86400
# Ranges longer than this are answered from the hourly rollup.
MINUTE_QUERY_LIMIT = timedelta(hours=6)


class Sample(NamedTuple):
    container: str
    process: str  # the app id when the line has one, else the process name
    stack: str  # process name; [appid;] frames..., root first, as in the .col line
    count: int  # type: ignore[assignment]  # a field shadowing tuple.count, as intended


@dataclass(frozen=True)
class Profile:
    hostname: str
    start: datetime
    end: datetime
    cpu_avg: float | None
    mem_avg: float | None
    samples: tuple[Sample, ...]
    digest: bytes = b""  # of the profile's text: tells a resent profile from another with its identity

    @property
    def total(self) -> int:
        return sum(sample.count for sample in self.samples)


def to_epoch(moment: datetime) -> int:
    return int(moment.astimezone(timezone.utc).timestamp())


def bucket_of(epoch: int, width: int) -> int:
    return epoch - epoch % width


def ceiling_of(epoch: int, width: int) -> int:
    """The first bucket boundary at or after `epoch`."""
    return -(-epoch // width) * width


@dataclass(frozen=True)
class Filters:
    """Which samples a query covers: a service and a time range, optionally narrowed."""

    service: str
    start: datetime
    end: datetime
    hosts: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()

    @property
    def resolution(self) -> int:
        return MINUTE if self.end - self.start <= MINUTE_QUERY_LIMIT else HOUR

    @property
    def bounds(self) -> tuple[int, int]:
        """[lo, hi) of profile starts (epoch seconds): a profile belongs to the range when the minute
        it starts in does; the start is rounded down to the resolution."""
        return bucket_of(to_epoch(self.start), self.resolution), ceiling_of(to_epoch(self.end), MINUTE)


@dataclass(frozen=True)
class TimePoint:
    bucket: datetime
    samples: int
    cpu_avg: float | None
    mem_avg: float | None


@dataclass
class Seen:
    """Hosts, containers and processes with samples in a range."""

    hosts: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)


class Outcome(enum.Enum):
    """What `add_profile` did with a profile."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # the same profile again (an agent that lost an acknowledgment)
    CONFLICT = "conflict"  # the same identity with other content: the first one is kept
