"""The sink interface every output destination implements."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class CycleProfile:
    """One finished cycle, ready to be written or sent."""

    start_time: datetime
    end_time: datetime
    collapsed: str  # the whole `.col` text, header line included
    samples: int
    hostname: str
    metrics: dict[str, float | None] = field(default_factory=dict)  # cpu_avg, mem_avg (percent)


class ProfileSink(Protocol):
    def write(self, profile: CycleProfile) -> None:
        """Persist or send one profile. Must not raise for I/O trouble: log it and carry on."""

    def close(self) -> None:
        """Flush and release resources; called once when the agent stops."""
