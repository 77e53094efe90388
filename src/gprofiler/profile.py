"""One cycle's profile as the cycle function makes it and every sink receives it.

The stacks stay a model (per process, with its container and app-metadata index); the `.col` text
is written from it once, when a sink first asks, and the flame graph is drawn from the model.
"""

import functools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gprofiler.output.collapsed import display_stacks_of, format_collapsed, read_collapsed
from gprofiler.stacks.model import PidStacks, total_samples


@dataclass(frozen=True)
class CycleProfile:
    start_time: datetime
    end_time: datetime
    header: dict[str, Any]  # gProfiler's JSON header (output.collapsed.profile_header)
    stacks: PidStacks
    container_of: Mapping[int, str] = field(default_factory=dict)  # container name by PID; absent: none
    app_index_of: Mapping[int, int] = field(default_factory=dict)  # index in application_metadata
    hostname: str = ""
    metrics: Mapping[str, float | None] = field(default_factory=dict)  # cpu_avg, mem_avg (percent)

    @functools.cached_property
    def samples(self) -> int:
        return total_samples(self.stacks)

    @functools.cached_property
    def collapsed(self) -> str:
        """The whole `.col` text, header line included."""
        return format_collapsed(self.header, self.stacks, self._container, self.app_index_of)

    def display_stacks(self) -> Counter[str]:
        """The stacks as the local flame graph shows them (`output.collapsed.display_stacks`)."""
        return display_stacks_of(self.stacks, self._container, self.app_index_of)

    def _container(self, pid: int) -> str:
        return self.container_of.get(pid, "")


def profile_from_collapsed(
    text: str,
    *,
    start_time: datetime,
    end_time: datetime,
    hostname: str = "",
    metrics: Mapping[str, float | None] | None = None,
) -> CycleProfile:
    """A profile read back from its `.col` text (its `collapsed` is that text again)."""
    header, stacks, containers, indexes = read_collapsed(text)
    return CycleProfile(start_time, end_time, header, stacks, containers, indexes, hostname, metrics or {})
