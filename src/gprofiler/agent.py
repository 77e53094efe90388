"""The agent: preconditions, and wiring the profilers, discovery and sinks to the cycle loop (loop.py).
Decisions live elsewhere; this connects them."""

import contextlib
import ctypes
import logging
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from gprofiler import __version__
from gprofiler.config import AgentConfig
from gprofiler.coordinator import RuntimeCoordinator
from gprofiler.discovery.catalog import ProcessCatalog
from gprofiler.discovery.container_names import ContainerNames, default_sources, host_root_of
from gprofiler.discovery.k8s_pods import PodLabels
from gprofiler.host_metrics import HostMetricsMonitor
from gprofiler.logs import setup_logging
from gprofiler.loop import CycleLoop
from gprofiler.output.flamegraph import FlamegraphAssets, FlamegraphAssetsMissingError, load_assets
from gprofiler.perf_tool import PerfError
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
    resolve_proc_root,
    write_pid_file,
)
from gprofiler.profilers import all as profilers_list
from gprofiler.profilers.base import ProfilerContext, RuntimeProfiler
from gprofiler.profilers.perf.profiler import PerfProfiler
from gprofiler.profilers.registry import DISABLED
from gprofiler.runner import StoppedError
from gprofiler.sinks.base import ProfileSink
from gprofiler.sinks.local_files import LocalFilesSink
from gprofiler.sinks.remote_logs import RemoteLogsHandler
from gprofiler.sinks.spool import Spool
from gprofiler.sinks.studio_client import StudioClient
from gprofiler.sinks.upload import UploadSetupError, UploadSink, connect, open_spool
from gprofiler.system_info import static_metadata

logger = logging.getLogger(__name__)

_PR_SET_NAME = 15


def _install_stop_handlers(stop_event: threading.Event) -> None:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        # Event.set() takes a lock the interrupted main thread may hold: set it from another thread.
        if not stop_event.is_set():
            threading.Thread(target=stop_event.set, name="stop-request", daemon=True).start()
            logger.info("received %s, stopping", signal.Signals(signum).name)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def _name_this_process(name: str) -> None:
    """Show as `gprofiler` (not `python3`) in ps, top and the profiles themselves."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_NAME, name.encode(), 0, 0, 0)


def _check_pids_exist(pids: tuple[int, ...] | None) -> None:
    missing = [pid for pid in pids or () if not Path(f"/proc/{pid}").exists()]
    if missing:
        raise PreconditionError(f"--pids: no such process: {', '.join(map(str, missing))}")


@dataclass(frozen=True)
class _Outputs:
    assets: FlamegraphAssets | None
    client: StudioClient | None
    spool: Spool | None
    pod_labels: PodLabels | None


def _prepare(config: AgentConfig) -> _Outputs:
    """Everything that must hold before profiling starts; raises PreconditionError otherwise."""
    if config.disable_core_files:
        disable_core_files()
    if config.output_dir is not None:
        prepare_output_dir(config.output_dir)
    _check_pids_exist(config.pids)
    assets = load_assets() if config.flamegraph and config.output_dir is not None else None
    pod_labels = _pod_labels(config)
    client = spool = None
    if config.upload is not None:
        spool = open_spool(config.upload.spool_dir, config.upload.spool_max_bytes)
        client = connect(StudioClient(config.upload.server, socket.gethostname()))
    stale = remove_stale_workdirs(Path(tempfile.gettempdir()))
    if stale:
        logger.info("removed %d work directories left by earlier agents", stale)
    return _Outputs(assets, client, spool, pod_labels)


def _sinks(config: AgentConfig, outputs: _Outputs, spawn_time: str) -> list[ProfileSink]:
    sinks: list[ProfileSink] = []
    if config.output_dir is not None:
        sinks.append(
            LocalFilesSink(
                config.output_dir,
                flamegraph=outputs.assets,
                rotating=config.rotating_output,
                formats=config.output_formats,
                frequency=config.frequency,
            )
        )
    if config.upload is not None and outputs.client is not None and outputs.spool is not None:
        logs = None
        if config.upload.send_logs:
            logs = RemoteLogsHandler(config.upload.api_server)
            logging.getLogger("gprofiler").addHandler(logs)
        sinks.append(UploadSink(outputs.client, outputs.spool, spawn_time, logs))
    return sinks


def _runtime_profilers(config: AgentConfig, context: ProfilerContext) -> list[RuntimeProfiler]:
    profilers = []
    for spec in profilers_list.RUNTIME:
        choice = config.profilers[spec.name]
        if choice.mode != DISABLED:
            profilers.append(spec.build(context, choice.mode, choice.options))
    return profilers


def _system_profiler(config: AgentConfig, context: ProfilerContext) -> PerfProfiler | None:
    choice = config.profilers[profilers_list.SYSTEM.name]
    if choice.mode == DISABLED:
        return None
    return profilers_list.SYSTEM.build(context, choice.mode, choice.options)


def _pod_labels(config: AgentConfig) -> PodLabels | None:
    if not config.k8s_pod_labels:
        return None
    try:
        return PodLabels.in_cluster()
    except ValueError as error:
        raise PreconditionError(str(error)) from error


def _run_in(
    workdir: Path,
    config: AgentConfig,
    outputs: _Outputs,
    stop: threading.Event,
    proc_root: Path,
) -> int:
    context = ProfilerContext(
        config.frequency,
        config.duration,
        stop,
        workdir,
        proc_root,
        pids=config.pids,
        containers=config.containers is not None,
    )
    perf = _system_profiler(config, context)
    names = None
    if config.container_names:
        names = ContainerNames(default_sources(host_root_of(proc_root), config.container_runtime_socket))
    runtime = RuntimeCoordinator(
        ProcessCatalog(proc_root, appids=config.app_identifiers),
        _runtime_profilers(config, context),
        pids=config.pids,
        app_identifiers=config.app_identifiers,
        container_names=names,
        only_containers=config.containers,
        frequency=config.frequency,
        cycle_seconds=config.duration,
        max_processes=config.max_processes_runtime_profiler,
    )
    metadata = static_metadata(config.run_arguments, time.time(), proc_root)
    sinks = _sinks(config, outputs, str(metadata["spawn_time"]))
    agent = CycleLoop(
        config, perf, runtime, sinks, stop, HostMetricsMonitor(stop, proc_root), metadata, outputs.pod_labels
    )
    enabled = [
        f"{name} {choice.mode}" for name, choice in config.profilers.items() if choice.mode != DISABLED
    ]
    logger.info(
        "gprofiler %s: %s at %d Hz, %s of %ds, writing to %s",
        __version__,
        ", ".join(enabled),
        config.frequency,
        "continuous cycles" if config.continuous else "one cycle",
        config.duration,
        " and ".join(
            ([str(config.output_dir)] if config.output_dir else [])
            + ([config.upload.server.server_host] if config.upload else [])
        ),
    )
    try:
        return agent.run()
    finally:
        stop.set()
        runtime.stop()
        if perf is not None:
            perf.stop()
        for sink in sinks:
            sink.close()


def _profile(config: AgentConfig, stop_event: threading.Event) -> int:
    require_root()
    if config.pid_ns_check:
        require_init_pid_namespace()
    proc_root = resolve_proc_root(config.proc_root)
    if proc_root != Path("/proc"):
        logger.info("discovering processes in %s", proc_root)
    lock = acquire_instance_lock()
    try:
        outputs = _prepare(config)
        write_pid_file(config.pid_file)
        try:
            workdir = make_workdir()
            try:
                return _run_in(workdir, config, outputs, stop_event, proc_root)
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
    _name_this_process("gprofiler")
    stop_event = threading.Event()
    _install_stop_handlers(stop_event)
    try:
        return _profile(config, stop_event)
    except StoppedError:
        return 0
    except (PreconditionError, PerfError, FlamegraphAssetsMissingError, UploadSetupError) as error:
        if stop_event.is_set():
            return 0
        logger.error("%s", error)
        return 1
