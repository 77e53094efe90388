"""The cycle loop: wait out a cycle, cut perf's output, start the next cycle's runtime profilers,
collect, build the profile (`cycle.build_profile`, pure) and hand it to the sinks."""

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gprofiler.config import AgentConfig
from gprofiler.coordinator import PendingCycle, RuntimeCoordinator
from gprofiler.cycle import CycleInput, build_profile, pods_in, with_pod_labels
from gprofiler.discovery.k8s_pods import PodLabels
from gprofiler.host_metrics import HostMetricsMonitor
from gprofiler.perf_tool import PerfError
from gprofiler.profile import CycleProfile
from gprofiler.profilers.base import RuntimeResult
from gprofiler.profilers.perf.profiler import AllTargetsExitedError, PerfProfiler, PerfSnapshot
from gprofiler.runner import StoppedError
from gprofiler.sinks.base import ProfileSink
from gprofiler.system_info import current_metadata

logger = logging.getLogger(__name__)

PROFILING_MODE = "cpu"
MAX_CONSECUTIVE_FAILED_CYCLES = 3
# Runtime profilers run for the cycle's duration from its start; this is how late they may finish.
RUNTIME_GRACE_SECONDS = 15


class CycleLoop:
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
        cycle = CycleInput(
            start_time=start_time,
            end_time=end_time,
            perf_stacks=perf.stacks,
            results=results,
            processes=processes,
            container_names=self.runtime.names_by_pid(processes),
            metadata=current_metadata(self.metadata, PROFILING_MODE),
            metrics=self.metrics.take(),
        )
        profile = build_profile(cycle, self.runtime.rules(), self.runtime.rng)
        if self.pod_labels is not None:
            profile = with_pod_labels(profile, self.pod_labels.labels_of(pods_in(profile)))
        for sink in self.sinks:
            try:
                sink.write(profile)
            except Exception:  # a sink must not raise; if one does, the others still get the profile
                logger.exception("the %s output failed this cycle", type(sink).__name__)
        self.cycles_written += 1
        self._log_cycle(profile, pending, results, perf, time.monotonic() - boundary)

    def _log_cycle(
        self,
        profile: CycleProfile,
        pending: PendingCycle,
        results: dict[int, RuntimeResult],
        perf: PerfSnapshot,
        seconds: float,
    ) -> None:
        covered = sum(1 for result in results.values() if result.stacks)
        failed = sum(1 for result in results.values() if result.error)
        logger.info(
            "cycle %d: %d samples from %d processes (%d by runtime profilers, %d failed; runtime "
            "profilers on %d processes, %d idle and %d over the caps left to perf) over %.1fs; "
            "perf script %.2fs, total processing %.2fs%s",
            self.cycles_written,
            profile.samples,
            len(profile.stacks),
            covered,
            failed,
            pending.chosen,
            pending.idle,
            pending.over_cap,
            (profile.end_time - profile.start_time).total_seconds(),
            perf.script_seconds,
            seconds,
            f"; {perf.dropped_samples} unreadable perf samples dropped" if perf.dropped_samples else "",
        )
