"""One cycle's runtime side: discovery, which processes each runtime profiler covers, their results.

The loop calls `begin()` at a cycle boundary (discovery, then every runtime profiler starts on its
processes), `results()` once the cycle is over, and hands everything to `cycle.build_profile`.
"""

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass

from gprofiler.cycle import CycleRules
from gprofiler.discovery.catalog import DiscoveredProcess, ProcessCatalog
from gprofiler.discovery.container_names import ContainerNames, matches
from gprofiler.discovery.cpu import CpuTracker, choose_busiest, idle_threshold, uptime_ticks
from gprofiler.profilers.base import RuntimeCycle, RuntimeProfiler, RuntimeResult
from gprofiler.runner import StoppedError

logger = logging.getLogger(__name__)


@dataclass
class PendingCycle:
    """What was started at a cycle's beginning."""

    processes: dict[int, DiscoveredProcess]
    runs: list[tuple[RuntimeProfiler, RuntimeCycle]]
    collected: bool = False
    chosen: int = 0  # processes handed to runtime profilers that cost per process
    idle: int = 0  # left to perf: they used too little CPU to be sampled
    over_cap: int = 0  # left to perf: past a profiler's cap


class RuntimeCoordinator:
    """Discovery plus the runtime profilers, driven by the agent's loop."""

    def __init__(
        self,
        catalog: ProcessCatalog,
        profilers: list[RuntimeProfiler],
        *,
        pids: tuple[int, ...] | None,
        app_identifiers: bool,
        container_names: ContainerNames | None = None,
        only_containers: tuple[str, ...] | None = None,
        rng: random.Random | None = None,
        frequency: int = 11,
        cycle_seconds: float = 60.0,
        max_processes: int | None = None,
    ) -> None:
        """`frequency` and `cycle_seconds` decide which processes are idle (see discovery/cpu.py);
        `max_processes` caps every runtime profiler (--max-processes-runtime-profiler)."""
        self.catalog = catalog
        self.profilers = profilers
        self.pids = pids
        self.app_identifiers = app_identifiers
        self.container_names = container_names
        self.only_containers = only_containers
        self.rng = rng or random.Random()
        self._by_runtime = {profiler.runtime: profiler for profiler in profilers}
        self.idle_ticks = idle_threshold(frequency)
        self.max_processes = max_processes
        self.cpu = CpuTracker(cycle_seconds)

    def start(self) -> None:
        """Start each profiler; one that cannot run is dropped with a single warning."""
        usable = []
        for profiler in self.profilers:
            try:
                profiler.start()
            except Exception as error:
                logger.warning("%s profiler unavailable, continuing without it: %s", profiler.name, error)
                continue
            usable.append(profiler)
        self.profilers = usable
        self._by_runtime = {profiler.runtime: profiler for profiler in usable}

    def begin(self) -> PendingCycle:
        processes = self.catalog.scan(self.pids)
        if self.container_names is not None:
            self.container_names.forget_except({p.container.id for p in processes.values() if p.container})
        if self.only_containers is not None:
            names = self.names_by_pid(processes)
            processes = {
                pid: p for pid, p in processes.items() if matches(names.get(pid, ""), self.only_containers)
            }
        pending = PendingCycle(processes, [])
        used = self._cpu_used(processes)
        cpu_share = {pid: ticks / self.cpu.cycle_ticks for pid, ticks in used.items()}
        for profiler in self.profilers:
            mine = [p for p in processes.values() if p.runtime == profiler.runtime and profiler.wants(p)]
            if profiler.per_process:
                caps = [cap for cap in (profiler.max_processes, self.max_processes) if cap]
                chosen = choose_busiest(
                    mine, used, 0.0 if profiler.samples_idle() else self.idle_ticks, min(caps, default=None)
                )
                mine = chosen.chosen
                pending.chosen += len(mine)
                pending.idle += chosen.idle
                pending.over_cap += chosen.over_cap
                if chosen.over_cap:
                    logger.debug("%s: %d busy processes over the cap", profiler.name, chosen.over_cap)
            pending.runs.append((profiler, profiler.begin_cycle(mine, cpu_share)))
        return pending

    def _cpu_used(self, processes: dict[int, DiscoveredProcess]) -> dict[int, float]:
        """Clock ticks each runtime process used over the last cycle (the others are not asked)."""
        runtimes = {profiler.runtime for profiler in self.profilers if profiler.per_process}
        candidates = [p for p in processes.values() if p.runtime in runtimes]
        try:
            uptime = uptime_ticks(self.catalog.proc_root)
        except (OSError, ValueError, IndexError):
            return {p.pid: self.cpu.cycle_ticks for p in candidates}  # no clock: as if all were busy
        return self.cpu.usage(candidates, self.catalog.cpu_ticks, uptime)

    def results(self, pending: PendingCycle, timeout: float) -> dict[int, RuntimeResult]:
        """Each profiler's per-process results (once per pending cycle; later calls get nothing)."""
        if pending.collected:
            return {}
        pending.collected = True
        results: dict[int, RuntimeResult] = {}
        for profiler, run in pending.runs:
            try:
                results.update(run.results(timeout))
            except StoppedError:
                raise
            except Exception:
                logger.exception("%s profiler failed this cycle", profiler.name)
        return results

    def processes_of(self, pending: PendingCycle, pids: Iterable[int]) -> dict[int, DiscoveredProcess]:
        """Discovery facts for every PID in the profile (processes born mid-cycle looked up now)."""
        processes = dict(pending.processes)
        for pid in pids:
            if pid not in processes and pid > 0:
                found = self.catalog.lookup(pid)
                if found is not None:
                    processes[pid] = found
        return processes

    def names_by_pid(self, processes: dict[int, DiscoveredProcess]) -> dict[int, str]:
        """The container name of each process in a container (names disabled: none)."""
        if self.container_names is None:
            return {}
        refs = {pid: p.container for pid, p in processes.items() if p.container is not None}
        if not refs:
            return {}
        names = self.container_names.names_of(refs.values())
        return {pid: names[ref.id] for pid, ref in refs.items()}

    def rules(self) -> CycleRules:
        """The settings the cycle function applies, with the started profilers' rewrites of perf's stacks."""
        return CycleRules(
            app_identifiers=self.app_identifiers,
            container_names_enabled=self.container_names is not None,
            only_containers=self.only_containers,
            perf_rewrites={
                runtime: profiler.rewrite_perf_stacks for runtime, profiler in self._by_runtime.items()
            },
        )

    def stop(self) -> None:
        for profiler in self.profilers:
            try:
                profiler.stop()
            except Exception:
                logger.exception("stopping the %s profiler failed", profiler.name)
