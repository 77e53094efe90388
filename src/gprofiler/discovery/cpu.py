"""Which processes used CPU: runtime profilers go to those, busiest first, so that the agent's cost
follows the work done on the machine rather than the number of processes on it.

The catalog reads every process's `/proc/PID/stat` at each scan anyway; its utime + stime (clock
ticks) are kept (`ProcessCatalog.cpu_ticks`), and `CpuTracker` turns them into the CPU each process
used since the previous scan. A process seen for the first time (a new one, or every process at the
agent's start) is judged by its average since it started, over one cycle's length.
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gprofiler.discovery.catalog import DiscoveredProcess

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def uptime_ticks(proc_root: Path) -> float:
    """Clock ticks since boot (the unit of a process's start time in /proc/PID/stat)."""
    return float((proc_root / "uptime").read_text().split()[0]) * CLOCK_TICKS


def idle_threshold(frequency: int) -> float:
    """Clock ticks of CPU a process must use in a cycle to be expected to get one sample at
    `frequency`: less than that and a sampling profiler would find it doing nothing."""
    return CLOCK_TICKS / frequency


class CpuTracker:
    """CPU used per process between consecutive scans, in clock ticks per cycle."""

    def __init__(self, cycle_seconds: float) -> None:
        self.cycle_seconds = cycle_seconds
        self.cycle_ticks = cycle_seconds * CLOCK_TICKS
        self._previous: dict[tuple[int, int], tuple[int, float]] = {}  # (pid, start) -> (ticks, uptime)

    def usage(
        self, processes: Iterable[DiscoveredProcess], cpu_ticks: Mapping[int, int], uptime: float
    ) -> dict[int, float]:
        """Ticks each process used since the last call (scaled to one cycle), or, for one not seen
        then, its average since it started over one cycle. `uptime` is in clock ticks."""
        used: dict[int, float] = {}
        seen: dict[tuple[int, int], tuple[int, float]] = {}
        cycle_ticks = self.cycle_ticks
        for process in processes:
            ticks = cpu_ticks.get(process.pid)
            if ticks is None:
                continue
            key = process.info.key
            # since the previous scan, or since the process started (its start time is in ticks too)
            before, since = self._previous.get(key, (0, float(process.info.start_time)))
            used[process.pid] = max(ticks - before, 0) * cycle_ticks / max(uptime - since, 1.0)
            seen[key] = (ticks, uptime)
        self._previous = seen
        return used


@dataclass
class Selection:
    """The processes a runtime profiler gets this cycle, and how many it does not."""

    chosen: list[DiscoveredProcess] = field(default_factory=list)
    idle: int = 0  # used less CPU than one sample's worth: perf's native stacks are enough
    over_cap: int = 0  # busy, but past the profiler's cap


def choose_busiest(
    processes: Iterable[DiscoveredProcess], used: Mapping[int, float], min_ticks: float, cap: int | None
) -> Selection:
    """The processes that used at least `min_ticks` (0: every one), busiest first, at most `cap`."""
    ranked = sorted(processes, key=lambda process: (-used.get(process.pid, 0.0), process.pid))
    busy = [process for process in ranked if used.get(process.pid, 0.0) >= min_ticks]
    chosen = busy if cap is None else busy[:cap]
    return Selection(chosen, len(ranked) - len(busy), len(busy) - len(chosen))
