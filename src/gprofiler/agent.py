"""The agent: preconditions, wiring, and the cycle loop. Decisions live elsewhere; this connects them."""

import logging
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

from gprofiler import __version__
from gprofiler.config import AgentConfig
from gprofiler.host_metrics import HostMetricsMonitor
from gprofiler.logs import setup_logging
from gprofiler.output.collapsed import format_collapsed, profile_header
from gprofiler.output.flamegraph import FlamegraphAssets, FlamegraphAssetsMissingError, load_assets
from gprofiler.preconditions import (
    PreconditionError,
    acquire_instance_lock,
    disable_core_files,
    make_workdir,
    prepare_output_dir,
    remove_pid_file,
    remove_stale_workdirs,
    require_init_pid_namespace,
    require_root,
    write_pid_file,
)
from gprofiler.profilers.perf import AllTargetsExitedError, PerfProfiler, PerfSnapshot
from gprofiler.profilers.perf_record import PerfError
from gprofiler.runner import StoppedError
from gprofiler.sinks.base import CycleProfile, ProfileSink
from gprofiler.sinks.local_files import LocalFilesSink
from gprofiler.system_info import current_metadata, static_metadata

logger = logging.getLogger(__name__)

PROFILING_MODE = "cpu"
MAX_CONSECUTIVE_FAILED_CYCLES = 3


class Agent:
    """Runs cycles back to back: wait out the cycle, cut perf's output, merge, hand to the sinks."""

    def __init__(
        self,
        config: AgentConfig,
        profiler: PerfProfiler,
        sinks: Sequence[ProfileSink],
        stop_event: threading.Event,
        metrics: HostMetricsMonitor,
        metadata: dict[str, object],
    ) -> None:
        self.config = config
        self.profiler = profiler
        self.sinks = sinks
        self.stop_event = stop_event
        self.metrics = metrics
        self.metadata = metadata
        self.cycles_written = 0

    def run(self) -> int:
        """Profile until done (one cycle, or until stopped with -c); returns the exit code."""
        self.metrics.start()
        self.profiler.start()
        start_time, start_mono = datetime.now(timezone.utc), time.monotonic()
        failures = 0
        while True:
            remaining = self.config.duration - (time.monotonic() - start_mono)
            if self.stop_event.wait(max(0.0, remaining)):
                logger.info("stopping: discarding the partial cycle (%.1fs)", time.monotonic() - start_mono)
                return 0
            boundary = time.monotonic()
            try:
                snapshot = self.profiler.snapshot()
            except StoppedError:
                logger.info("stopping: discarding the cycle being processed")
                return 0
            except PerfError as error:
                if self.stop_event.is_set():
                    return 0
                failures += 1
                logger.error("cycle lost: %s", error)
                if not self.config.continuous or failures >= MAX_CONSECUTIVE_FAILED_CYCLES:
                    return 1
                start_time, start_mono = datetime.now(timezone.utc), boundary
                continue
            failures = 0
            self._write_cycle(start_time, snapshot, boundary)
            start_time, start_mono = snapshot.end_time, boundary
            if not self.config.continuous:
                return 0
            try:
                self.profiler.ensure_running()
            except AllTargetsExitedError as error:
                logger.info("stopping: %s", error)
                return 0

    def _write_cycle(self, start_time: datetime, snapshot: PerfSnapshot, boundary: float) -> None:
        header = profile_header(
            metadata=current_metadata(self.metadata, PROFILING_MODE),
            metrics=self.metrics.take(),
            start_time=start_time,
            end_time=snapshot.end_time,
        )
        profile = CycleProfile(
            start_time=start_time,
            end_time=snapshot.end_time,
            collapsed=format_collapsed(header, snapshot.stacks),
            samples=snapshot.samples,
            hostname=str(self.metadata.get("hostname", "")),
        )
        for sink in self.sinks:
            sink.write(profile)
        self.cycles_written += 1
        logger.info(
            "cycle %d: %d samples from %d processes over %.1fs; perf script %.2fs, total processing %.2fs%s",
            self.cycles_written,
            snapshot.samples,
            len(snapshot.stacks),
            (snapshot.end_time - start_time).total_seconds(),
            snapshot.script_seconds,
            time.monotonic() - boundary,
            f"; {snapshot.dropped_samples} unreadable samples dropped" if snapshot.dropped_samples else "",
        )


def _install_stop_handlers(stop_event: threading.Event) -> None:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        # Event.set() takes a lock the interrupted main thread may hold: set it from another thread.
        if not stop_event.is_set():
            threading.Thread(target=stop_event.set, name="stop-request", daemon=True).start()
            logger.info("received %s, stopping", signal.Signals(signum).name)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def _check_pids_exist(pids: tuple[int, ...] | None) -> None:
    missing = [pid for pid in pids or () if not Path(f"/proc/{pid}").exists()]
    if missing:
        raise PreconditionError(f"--pids: no such process: {', '.join(map(str, missing))}")


def _prepare(config: AgentConfig) -> FlamegraphAssets | None:
    """Everything that must hold before profiling starts; raises PreconditionError otherwise."""
    if config.disable_core_files:
        disable_core_files()
    prepare_output_dir(config.output_dir)
    _check_pids_exist(config.pids)
    assets = load_assets() if config.flamegraph else None
    stale = remove_stale_workdirs(Path(tempfile.gettempdir()))
    if stale:
        logger.info("removed %d work directories left by earlier agents", stale)
    return assets


def _run_in(
    workdir: Path, config: AgentConfig, assets: FlamegraphAssets | None, stop: threading.Event
) -> int:
    profiler = PerfProfiler(
        mode=config.perf_mode,
        frequency=config.frequency,
        dwarf_stack_size=config.perf_dwarf_stack_size,
        pids=config.pids,
        perf_path=config.perf_path,
        workdir=workdir,
        stop_event=stop,
        script_timeout=max(60.0, 10.0 * config.duration),
    )
    sink = LocalFilesSink(config.output_dir, flamegraph=assets, rotating=config.rotating_output)
    metadata = static_metadata(config.run_arguments, time.time(), Path("/proc"))
    agent = Agent(config, profiler, [sink], stop, HostMetricsMonitor(stop), metadata)
    logger.info(
        "gprofiler %s: perf %s at %d Hz, %s of %ds, writing to %s",
        __version__,
        config.perf_mode,
        config.frequency,
        "continuous cycles" if config.continuous else "one cycle",
        config.duration,
        config.output_dir,
    )
    try:
        return agent.run()
    finally:
        stop.set()
        profiler.stop()
        sink.close()


def _profile(config: AgentConfig, stop_event: threading.Event) -> int:
    require_root()
    if config.pid_ns_check:
        require_init_pid_namespace()
    lock = acquire_instance_lock()
    try:
        assets = _prepare(config)
        write_pid_file(config.pid_file)
        try:
            workdir = make_workdir()
            try:
                return _run_in(workdir, config, assets, stop_event)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        finally:
            remove_pid_file(config.pid_file)
    finally:
        lock.close()


def run_agent(config: AgentConfig) -> int:
    """Entry point for the profiling command; returns the process exit code."""
    setup_logging(
        verbose=config.verbose,
        log_file=config.log_file,
        max_bytes=config.log_rotate_max_size,
        backup_count=config.log_rotate_backup_count,
    )
    stop_event = threading.Event()
    _install_stop_handlers(stop_event)
    try:
        return _profile(config, stop_event)
    except StoppedError:
        return 0
    except (PreconditionError, PerfError, FlamegraphAssetsMissingError) as error:
        if stop_event.is_set():
            return 0
        logger.error("%s", error)
        return 1
