"""One cycle's runtime side: which processes each runtime profiler covers, and combining the results.

The agent calls `begin()` at a cycle boundary (discovery, then every runtime profiler starts on its
processes) and `combine()` once perf's stacks for that cycle are in.
"""

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass

from gprofiler.discovery.catalog import DiscoveredProcess, ProcessCatalog
from gprofiler.discovery.container_names import ContainerNames, matches
from gprofiler.profilers.base import RuntimeCycle, RuntimeProfiler, RuntimeResult
from gprofiler.runner import StoppedError
from gprofiler.stacks.escaping import escape_frame
from gprofiler.stacks.merge import insert_after_comm, merge_runtime_results
from gprofiler.stacks.model import PidStacks

logger = logging.getLogger(__name__)


@dataclass
class PendingCycle:
    """What was started at a cycle's beginning."""

    processes: dict[int, DiscoveredProcess]
    runs: list[tuple[RuntimeProfiler, RuntimeCycle]]
    collected: bool = False


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
    ) -> None:
        self.catalog = catalog
        self.profilers = profilers
        self.pids = pids
        self.app_identifiers = app_identifiers
        self.container_names = container_names
        self.only_containers = only_containers
        self.rng = rng or random.Random()
        self._by_runtime = {profiler.runtime: profiler for profiler in profilers}

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
        runs = []
        for profiler in self.profilers:
            mine = [p for p in processes.values() if p.runtime == profiler.runtime]
            runs.append((profiler, profiler.begin_cycle(mine)))
        return PendingCycle(processes, runs)

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

    def outside_wanted_containers(
        self, processes: dict[int, DiscoveredProcess], names: dict[int, str]
    ) -> set[int]:
        """With --containers: the processes known to be elsewhere (exited ones perf followed are kept,
        since perf only follows the wanted containers' processes and their children)."""
        if self.only_containers is None:
            return set()
        return {pid for pid in processes if not matches(names.get(pid, ""), self.only_containers)}

    def combine(
        self, perf: PidStacks, results: dict[int, RuntimeResult], processes: dict[int, DiscoveredProcess]
    ) -> PidStacks:
        """perf's stacks as each runtime wants them, runtime stacks merged in, app ids added."""
        rewritten: PidStacks = {}
        for pid, counts in perf.items():
            process = processes.get(pid)
            profiler = self._by_runtime.get(process.runtime or "") if process else None
            rewritten[pid] = profiler.rewrite_perf_stacks(process, counts) if profiler and process else counts
        merged = merge_runtime_results(rewritten, results, self.rng)
        for pid, result in results.items():
            if result.stacks and logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "pid %d (%s): perf %d samples, runtime %d samples, merged %d",
                    pid,
                    result.comm,
                    sum(perf.get(pid, {}).values()),
                    sum(result.stacks.values()),
                    sum(merged[pid].values()),
                )
        if not self.app_identifiers:
            return merged
        appids = {
            pid: f"appid: {escape_frame(p.appid)}"
            for pid, p in processes.items()
            if p.appid and pid in merged
        }
        return insert_after_comm(merged, appids)

    def stop(self) -> None:
        for profiler in self.profilers:
            try:
                profiler.stop()
            except Exception:
                logger.exception("stopping the %s profiler failed", profiler.name)
