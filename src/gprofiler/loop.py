"""The cycle loop: wait out a cycle, cut perf's output, collect the runtime profilers, merge, write."""

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gprofiler.config import AgentConfig
from gprofiler.cycle import PendingCycle, RuntimeCoordinator
from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.k8s_pods import PodLabels, pod_of
from gprofiler.host_metrics import HostMetricsMonitor
from gprofiler.output.collapsed import format_collapsed, metadata_table, profile_header
from gprofiler.perf_tool import PerfError
from gprofiler.profilers.base import RuntimeResult
from gprofiler.profilers.perf.profiler import AllTargetsExitedError, PerfProfiler, PerfSnapshot
from gprofiler.runner import StoppedError
from gprofiler.sinks.base import CycleProfile, ProfileSink
from gprofiler.stacks.model import PidStacks, total_samples
from gprofiler.system_info import current_metadata

logger = logging.getLogger(__name__)

PROFILING_MODE = "cpu"
MAX_CONSECUTIVE_FAILED_CYCLES = 3
# Runtime profilers run for the cycle's duration from its start; this is how late they may finish.
RUNTIME_GRACE_SECONDS = 15


class Agent:
    """Runs cycles back to back; the next cycle's runtime profilers start at the boundary."""

    def __init__(
        self,
        config: AgentConfig,
        perf: PerfProfiler | None,
        runtime: RuntimeCoordinator,
        sinks: Sequence[ProfileSink],
        stop_event: threading.Event,
        metrics: HostMetricsMonitor,
        metadata: dict[str, Any],
        pod_labels: PodLabels | None = None,
    ) -> None:
        self.config = config
        self.pod_labels = pod_labels
        self.perf = perf
        self.runtime = runtime
        self.sinks = sinks
        self.stop_event = stop_event
        self.metrics = metrics
        self.metadata = metadata
        self.cycles_written = 0
        self._pending: PendingCycle | None = None

    def run(self) -> int:
        """Profile until done (one cycle, or until stopped with -c); returns the exit code."""
        self.metrics.start()
        self.runtime.start()
        self._pending = self._begin()
        try:
            if self.perf is not None:
                self.perf.start()
            return self._loop()
        finally:
            self._discard(self._pending)
            self._pending = None

    def _loop(self) -> int:
        start_time, start_mono = datetime.now(timezone.utc), time.monotonic()
        failures = 0
        while self._pending is not None:
            pending = self._pending
            if self.stop_event.wait(max(0.0, self.config.duration - (time.monotonic() - start_mono))):
                logger.info("stopping: discarding the partial cycle (%.1fs)", time.monotonic() - start_mono)
                return 0
            boundary = time.monotonic()
            following: PendingCycle | None = None
            try:
                end_time, dumps = self.perf.switch() if self.perf else (datetime.now(timezone.utc), [])
                following = self._begin() if self.config.continuous else None
                self._finish_cycle(start_time, end_time, dumps, pending, boundary)
                failures = 0
            except StoppedError:
                logger.info("stopping: discarding the cycle being processed")
                self._discard(following)
                return 0
            except PerfError as error:
                self._discard(following)
                if self.stop_event.is_set():
                    return 0
                failures += 1
                logger.error("cycle lost: %s", error)
                if not self.config.continuous or failures >= MAX_CONSECUTIVE_FAILED_CYCLES:
                    return 1
                end_time = datetime.now(timezone.utc)
                following = self._begin()
            except Exception:
                # Not perf: a bug met by something unusual in this cycle. The cycle is lost and the
                # next one goes on: exiting would make a crash loop of it under systemd.
                logger.exception("cycle lost: unexpected error while processing it")
                if not self.config.continuous:
                    self._discard(following)
                    return 1
                end_time = datetime.now(timezone.utc)
                following = following or self._begin()
            self._discard(pending)
            self._pending = following
            start_time, start_mono = end_time, boundary
            if following is not None and self.perf is not None:
                try:
                    self.perf.ensure_running()
                except AllTargetsExitedError as error:
                    logger.info("stopping: %s", error)
                    return 0
        return 0

    def _begin(self) -> PendingCycle:
        """Start the next cycle's runtime profilers; with --containers, perf is pointed at the wanted
        containers' processes found now (and started on them, the first time)."""
        pending = self.runtime.begin()
        if self.perf is None or self.runtime.only_containers is None:
            return pending
        try:
            self.perf.retarget(
                {pid: (p.info.ppid, p.info.start_time) for pid, p in pending.processes.items()}
            )
        except BaseException:
            self._discard(pending)
            raise
        return pending

    def _discard(self, pending: PendingCycle | None) -> None:
        """Stop whatever a pending cycle still runs (its results are not wanted)."""
        if pending is None:
            return
        with contextlib.suppress(StoppedError):
            self.runtime.results(pending, timeout=0)

    def _finish_cycle(
        self,
        start_time: datetime,
        end_time: datetime,
        dumps: list[Path],
        pending: PendingCycle,
        boundary: float,
    ) -> None:
        perf = self.perf.collect(end_time, dumps) if self.perf else PerfSnapshot(end_time, {}, 0, 0, 0.0)
        results = self.runtime.results(pending, timeout=self.config.duration + RUNTIME_GRACE_SECONDS)
        processes = self.runtime.processes_of(pending, set(perf.stacks) | set(results))
        stacks = self.runtime.combine(perf.stacks, results, processes)
        names = self.runtime.names_by_pid(processes)
        elsewhere = self.runtime.outside_wanted_containers(processes, names)
        if elsewhere:
            stacks = {pid: counts for pid, counts in stacks.items() if pid not in elsewhere}
        table, index_of = metadata_table(_metadata_by_pid(stacks, processes, results))
        metrics = self.metrics.take()
        containers = {names[pid] for pid in stacks if names.get(pid)}
        metadata = current_metadata(self.metadata, PROFILING_MODE)
        if self.pod_labels is not None:
            pods = [pod for pod in map(pod_of, containers) if pod is not None]
            metadata["k8s_pod_labels"] = self.pod_labels.labels_of(pods)
        header = profile_header(
            metadata=metadata,
            metrics=metrics,
            start_time=start_time,
            end_time=end_time,
            containers=containers,
            container_names_enabled=self.runtime.container_names is not None,
            application_metadata=table,
        )
        samples = total_samples(stacks)
        profile = CycleProfile(
            start_time=start_time,
            end_time=end_time,
            collapsed=format_collapsed(
                header, stacks, container_of=lambda pid: names.get(pid, ""), app_index_of=index_of
            ),
            samples=samples,
            hostname=str(self.metadata.get("hostname", "")),
            metrics=dict(metrics),
        )
        for sink in self.sinks:
            try:
                sink.write(profile)
            except Exception:  # a sink must not raise; if one does, the others still get the profile
                logger.exception("the %s output failed this cycle", type(sink).__name__)
        self.cycles_written += 1
        covered = sum(1 for result in results.values() if result.stacks)
        failed = sum(1 for result in results.values() if result.error)
        logger.info(
            "cycle %d: %d samples from %d processes (%d by runtime profilers, %d failed) over %.1fs; "
            "perf script %.2fs, total processing %.2fs%s",
            self.cycles_written,
            samples,
            len(stacks),
            covered,
            failed,
            (end_time - start_time).total_seconds(),
            perf.script_seconds,
            time.monotonic() - boundary,
            f"; {perf.dropped_samples} unreadable perf samples dropped" if perf.dropped_samples else "",
        )


def _metadata_by_pid(
    stacks: PidStacks, processes: dict[int, DiscoveredProcess], results: dict[int, RuntimeResult]
) -> dict[int, dict[str, Any] | None]:
    """Discovery's metadata of each profiled process, plus what its runtime profiler learned."""
    metadata: dict[int, dict[str, Any] | None] = {}
    for pid in stacks:
        known = processes[pid].metadata if pid in processes else None
        learned = results[pid].metadata if pid in results else None
        metadata[pid] = {**(known or {}), **(learned or {})} or None
    return metadata
