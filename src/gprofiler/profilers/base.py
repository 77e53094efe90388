"""What a runtime profiler (py-spy for Python, ...) looks like to the agent."""

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.stacks.model import StackCounts


@dataclass(frozen=True)
class RuntimeResult:
    """One process's outcome from a runtime profiler: stacks (comm first), or why there are none."""

    comm: str
    stacks: StackCounts | None = None
    error: str | None = None
    error_label: str = "Profiling error"  # or "Profiling skipped" when the agent chose not to profile
    metadata: dict[str, Any] | None = None  # facts the profiler learned (e.g. the JVM's version)


class ProfilerUnavailableError(Exception):
    """The profiler cannot run on this machine (tool missing, unsupported kernel, ...)."""


@dataclass(frozen=True)
class ProfilerContext:
    """What every profiler is built with."""

    frequency: int
    duration: int
    stop_event: threading.Event
    workdir: Path
    proc_root: Path
    pids: tuple[int, ...] | None = None  # --pids
    containers: bool = False  # --containers: the system profiler records only what it is pointed at


class RuntimeCycle(Protocol):
    def results(self, timeout: float) -> dict[int, RuntimeResult]:
        """Wait (at most `timeout` seconds) for this cycle's per-process results."""


class NoResults:
    """The cycle of a profiler that only rewrites perf's stacks."""

    def results(self, timeout: float) -> dict[int, RuntimeResult]:
        return {}


class RuntimeProfiler:
    """Base class: a profiler for the processes of one runtime. Override what applies."""

    name = "runtime"
    runtime = ""
    # A profiler whose cycle costs something per process (a tool started, an attach) is given only
    # the processes that used CPU, busiest first, at most `max_processes` (coordinator.py).
    per_process = False
    max_processes: int | None = None

    def samples_idle(self) -> bool:
        """Whether it samples threads that are not running (then an idle process is not skipped)."""
        return False

    def start(self) -> None:
        """Check the tools exist; raise ProfilerUnavailableError to be dropped with one warning."""

    def wants(self, process: DiscoveredProcess) -> bool:
        """Whether a process of its runtime is one it can profile (asked before choosing the busiest)."""
        return True

    def begin_cycle(self, processes: list[DiscoveredProcess], cpu: Mapping[int, float]) -> RuntimeCycle:
        """Start profiling these processes for one cycle. `cpu`: the share of one core each used
        over the last cycle (1.0: a whole core; see discovery/cpu.py)."""
        return NoResults()

    def rewrite_perf_stacks(self, process: DiscoveredProcess, counts: StackCounts) -> StackCounts:
        """perf's stacks of one of this runtime's processes, as they should appear."""
        return counts

    def stop(self) -> None:
        """Undo anything done to target processes; called once when the agent stops."""
