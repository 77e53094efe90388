"""Java processes: JFR through HotSpot's attach socket (no native code injected), or async-profiler.

Per JVM and cycle: safety checks, then a recording started at the cycle's beginning and stopped at
its end (`java_jfr.py`, or `java_ap.py` in `ap` mode). Attaching happens in a small thread pool so
a slow JVM never holds up the cycle; a JVM is never attached to twice at once.

Safety, adapted from gProfiler's safe mode:
- JVMs younger than a few seconds are left alone (SIGQUIT before HotSpot installs its handler
  would kill them);
- `-XX:+DisableAttachMechanism` (command line or *_JAVA_OPTIONS) gets an error frame at once;
- the JDK version is checked (`VM.version`; JFR needs 11+ or 8u262+) unless told not to;
- a JVM crash after profiling (a new `hs_err_pid<N>.log`) stops Java profiling for the rest of the
  agent's life: later JVMs get a `[Profiling skipped: ...]` frame and a critical log line.
"""

import concurrent.futures
import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.cpu import CLOCK_TICKS, uptime_ticks
from gprofiler.discovery.procfs import is_running, read_environ_value
from gprofiler.discovery.rootfs import listdir_in_root
from gprofiler.discovery.runtimes import JAVA
from gprofiler.profilers.base import ProfilerContext, ProfilerUnavailableError, RuntimeProfiler, RuntimeResult
from gprofiler.profilers.java.async_profiler import (
    DIRECTORY,
    ApSession,
    install_library,
    library_name,
    parse_collapsed,
)
from gprofiler.profilers.java.attach import AttachError, JvmTarget, jcmd
from gprofiler.profilers.java.jfr_reader import JfrFormatError, read_samples
from gprofiler.profilers.java.jfr_session import (
    JfrRecording,
    jfr_supported,
    parse_jdk_version,
    remove_stale_outputs,
    shares_our_mount_namespace,
    start_recording,
)
from gprofiler.profilers.java.options import JavaOptions, validate_options
from gprofiler.profilers.registry import ProfilerSpec
from gprofiler.stacks.model import StackCounts

logger = logging.getLogger(__name__)

MIN_JVM_AGE_S = 3.0
RECORDING_GRACE_S = 10  # a recording outlives its cycle by this much, then stops by itself
_ATTACH_DISABLED = "-XX:+DisableAttachMechanism"
_JAVA_OPTION_VARIABLES = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")
_SELECTED_FLAGS = (
    "MaxHeapSize",
    "InitialHeapSize",
    "MaxRAMPercentage",
    "UseG1GC",
    "UseParallelGC",
    "UseSerialGC",
    "UseZGC",
    "UseShenandoahGC",
    "UseContainerSupport",
)


@dataclass
class _Started:
    session: JfrRecording | ApSession | None  # None until the recording has started
    hs_err_before: frozenset[str]
    cwd: str  # the JVM's working directory, where HotSpot writes hs_err_pid<N>.log
    host_visible: bool  # the JVM shares our mount namespace: its files stay reachable after it dies


def selected_flags(vm_flags: str) -> dict[str, str]:
    """A few JVM flags worth seeing next to a profile (heap sizing, garbage collector)."""
    flags: dict[str, str] = {}
    for token in vm_flags.split():
        if not token.startswith("-XX:"):
            continue
        body = token[4:]
        if body[:1] in "+-" and body[1:] in _SELECTED_FLAGS:
            flags[body[1:]] = "true" if body[0] == "+" else "false"
        else:
            name, sep, value = body.partition("=")
            if sep and name in _SELECTED_FLAGS:
                flags[name] = value
    return flags


class JavaProfiler(RuntimeProfiler):
    name = "java"
    runtime = JAVA
    per_process = True  # an attach and a recording per JVM per cycle

    def __init__(self, context: ProfilerContext, mode: str, options: JavaOptions) -> None:
        self.context = context
        self.mode = mode
        self.timeout = float(options.jattach_timeout)
        guards = set(options.safemode.split(","))
        self.version_check = not options.no_version_check and "version" in guards
        self.hserr_guard = "hserr" in guards
        self.ap_event = options.ap_mode
        extra = [f"features={options.ap_features}"] if options.ap_features else []
        self.ap_extra = ",".join([*extra, *([options.ap_args] if options.ap_args else [])])
        self.native_samples = options.native_samples
        self.line_numbers = options.line_numbers
        self._ap_path = options.async_profiler_path
        self.ap_library: Path | None = None
        self.ap_name = ""  # the library's file name in JVMs
        self.prefix = f"gprofiler-{os.getpid()}"
        self.cycle = 0
        self.crashed: str | None = None
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._facts: dict[tuple[int, int], dict[str, Any]] = {}
        self._active: dict[int, JfrRecording | ApSession] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="java-attach")

    def start(self) -> None:
        bundled = resources.files("gprofiler") / "resources" / "java" / "libasyncProfiler.so"
        if self._ap_path:
            if not os.path.isfile(self._ap_path):
                raise ProfilerUnavailableError(f"--java-async-profiler-path {self._ap_path} is not a file")
            self.ap_library = Path(self._ap_path)
        elif bundled.is_file():
            self.ap_library = Path(str(bundled))
        if self.mode == "auto":
            self.mode = "ap" if self.ap_library else "jfr"
        if self.mode == "ap" and self.ap_library is None:
            raise ProfilerUnavailableError("--java-mode ap needs --java-async-profiler-path")
        if self.mode == "ap" and self.ap_library is not None:
            self.ap_name = library_name(self.ap_library)
        logger.info("Java profiling with %s", "async-profiler" if self.mode == "ap" else "JFR")
        removed = remove_stale_outputs(Path("/tmp"), os.getpid())
        if removed:
            logger.info("removed %d recording files earlier agents left in /tmp", removed)

    def samples_idle(self) -> bool:
        return self.native_samples  # JFR's native method samples include threads waiting in native code

    def begin_cycle(self, processes: list[DiscoveredProcess], cpu: Mapping[int, float]) -> "JavaCycle":
        self.cycle += 1
        runs = [(process, self._pool.submit(self._start_one, process, self.cycle)) for process in processes]
        return JavaCycle(self, runs)

    # --- per JVM, in the pool -------------------------------------------------------------------

    def _target(self, process: DiscoveredProcess) -> JvmTarget:
        info = process.info
        return JvmTarget(info.pid, info.nspid, info.uid, info.gid, self.context.proc_root)

    def _start_one(self, process: DiscoveredProcess, cycle: int) -> _Started | RuntimeResult | None:
        info = process.info
        if self.crashed:
            return RuntimeResult(info.comm, error=self.crashed, error_label="Profiling skipped")
        options = (
            " ".join(info.cmdline)
            + " "
            + read_environ_value(self.context.proc_root, info.pid, _JAVA_OPTION_VARIABLES)
        )
        if _ATTACH_DISABLED in options:
            return RuntimeResult(info.comm, error=f"attach disabled ({_ATTACH_DISABLED})")
        if uptime_ticks(self.context.proc_root) - info.start_time < MIN_JVM_AGE_S * CLOCK_TICKS:
            return None  # too young for SIGQUIT; next cycle
        with self._lock:
            if info.pid in self._busy:
                return None
            self._busy.add(info.pid)
        target = self._target(process)
        cwd = self._cwd(target)
        baseline = _Started(None, self._hs_err_files(target, cwd), cwd, shares_our_mount_namespace(target))
        try:
            return self._attach_and_start(process, cycle, baseline)
        except (AttachError, OSError) as error:
            self._release(info.pid)
            if not is_running(self.context.proc_root, info.pid, info.start_time):
                self._check_crash(process, baseline, gone=True)
                return RuntimeResult(info.comm, error="the JVM exited during the cycle")
            return RuntimeResult(info.comm, error=f"attach: {error}")

    def _attach_and_start(
        self, process: DiscoveredProcess, cycle: int, baseline: _Started
    ) -> _Started | RuntimeResult:
        target = self._target(process)
        facts = self._jvm_facts(process, target)
        version = parse_jdk_version(str(facts.get("vm_version", "")))
        if self.mode == "jfr" and self.version_check and (version is None or not jfr_supported(version)):
            self._release(process.pid)
            found = facts.get("java_version") or "unknown version"
            return RuntimeResult(process.info.comm, error=f"JFR needs JDK 11+ or 8u262+ (found {found})")
        duration = self.context.duration + RECORDING_GRACE_S
        session: JfrRecording | ApSession
        if self.mode == "ap" and self.ap_library is not None:
            library = install_library(target, self.ap_library, self.ap_name)
            output = f"{DIRECTORY}/{self.prefix}-{target.pid}-{cycle}.collapsed"  # host PIDs: unique
            interval_ns = 1_000_000_000 // self.context.frequency
            session = ApSession.start(
                target, library, interval_ns, output, self.timeout, self.ap_event, self.ap_extra
            )
        else:
            session = start_recording(
                target, self.prefix, cycle, self.context.frequency, duration, self.timeout
            )
        self._active[process.pid] = session
        baseline.session = session
        return baseline

    def _jvm_facts(self, process: DiscoveredProcess, target: JvmTarget) -> dict[str, Any]:
        """VM.version and selected flags, asked once per JVM."""
        facts = self._facts.get(process.info.key)
        if facts is None:
            vm_version = jcmd(target, "VM.version", timeout=self.timeout)
            first_line = vm_version.strip().splitlines()[0] if vm_version.strip() else ""
            facts = {"vm_version": vm_version, "java_version": first_line.rpartition(" version ")[2] or None}
            with contextlib.suppress(AttachError):
                facts["jvm_flags"] = selected_flags(jcmd(target, "VM.flags", timeout=self.timeout))
            self._facts[process.info.key] = facts
        return facts

    @staticmethod
    def _cwd(target: JvmTarget) -> str:
        try:
            return os.readlink(target.proc_root / str(target.pid) / "cwd")
        except OSError:
            return "/tmp"

    @staticmethod
    def _hs_err_files(target: JvmTarget, cwd: str, host_path: bool = False) -> frozenset[str]:
        """hs_err_pid<N>.log files in the JVM's working directory and /tmp (through its root, or
        by host path for a JVM that shared our mount namespace and is gone)."""
        name = f"hs_err_pid{target.nspid}.log"
        found = set()
        for directory in dict.fromkeys((cwd, "/tmp")):
            path = f"{directory.rstrip('/')}/{name}"
            if host_path:
                if os.path.lexists(path):
                    found.add(path)
                continue
            with contextlib.suppress(OSError):
                if name in listdir_in_root(target.root, directory):
                    found.add(path)
        return frozenset(found)

    def _release(self, pid: int) -> None:
        with self._lock:
            self._busy.discard(pid)
        self._active.pop(pid, None)

    def finish_one(self, process: DiscoveredProcess, started: _Started) -> RuntimeResult:
        """Stop the recording, read and parse it; notice a crash."""
        info = process.info
        try:
            session = started.session
            if isinstance(session, ApSession):
                stacks = parse_collapsed(session.stop_and_read(self.timeout), info.comm)
            elif isinstance(session, JfrRecording):
                stacks = self._jfr_stacks(session.stop_and_read(self.timeout), info.comm)
            else:
                raise AttachError("no recording was started")
        except (AttachError, OSError, JfrFormatError) as error:
            if not is_running(self.context.proc_root, info.pid, info.start_time):
                self._check_crash(process, started, gone=True)
                return RuntimeResult(info.comm, error="the JVM exited during the cycle")
            return RuntimeResult(info.comm, error=f"recording: {error}")
        finally:
            self._release(info.pid)
        self._check_crash(process, started, gone=False)
        facts = self._facts.get(info.key, {})
        metadata = {key: facts[key] for key in ("java_version", "jvm_flags") if facts.get(key)}
        return RuntimeResult(info.comm, stacks=stacks, metadata=metadata)

    def _jfr_stacks(self, data: bytes, comm: str) -> StackCounts:
        samples = read_samples(data, line_numbers=self.line_numbers)
        events = ["jdk.ExecutionSample"] + (["jdk.NativeMethodSample"] if self.native_samples else [])
        stacks: StackCounts = StackCounts()
        for event in events:
            for frames, count in samples.stacks.get(event, {}).items():
                stack = (comm, *frames)
                stacks[stack] += count
        return stacks

    def _check_crash(self, process: DiscoveredProcess, started: _Started, gone: bool) -> None:
        if gone and not started.host_visible:
            return  # its filesystem went with it
        target = self._target(process)
        new = self._hs_err_files(target, started.cwd, host_path=gone) - started.hs_err_before
        if new and not self.crashed and self.hserr_guard:
            self.crashed = f"a JVM crashed after being profiled (pid {process.pid}, {sorted(new)[0]})"
            logger.critical("%s; Java profiling is off for the rest of this agent's life", self.crashed)

    def abandon(self, started: _Started, pid: int) -> None:
        try:
            if started.session is not None:
                started.session.abandon(min(self.timeout, 5.0))
        finally:
            self._release(pid)

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for pid, session in list(self._active.items()):
            session.abandon(min(self.timeout, 5.0))
            self._release(pid)


class JavaCycle:
    """The JVM recordings of one cycle."""

    def __init__(
        self, profiler: JavaProfiler, runs: list[tuple[DiscoveredProcess, "concurrent.futures.Future[Any]"]]
    ) -> None:
        self.profiler, self.runs = profiler, runs

    def results(self, timeout: float) -> dict[int, RuntimeResult]:
        stopping = timeout <= 0 or self.profiler.context.stop_event.is_set()
        deadline = time.monotonic() + max(0.0, timeout)
        results: dict[int, RuntimeResult] = {}
        for process, future in self.runs:
            try:
                outcome = future.result(
                    timeout=max(0.0, deadline - time.monotonic()) if not stopping else None
                )
            except concurrent.futures.TimeoutError:
                results[process.pid] = RuntimeResult(process.info.comm, error="attach timed out")
                future.add_done_callback(functools.partial(self._late, pid=process.pid))
                continue
            except concurrent.futures.CancelledError:
                continue
            except Exception as error:  # a bug met by one JVM costs that JVM's profile only
                logger.exception("starting the recording of pid %d failed", process.pid)
                results[process.pid] = RuntimeResult(process.info.comm, error=f"attach: {error!r}")
                continue
            if isinstance(outcome, _Started):
                if stopping:
                    self.profiler.abandon(outcome, process.pid)
                else:
                    results[process.pid] = self._finish(process, outcome)
            elif isinstance(outcome, RuntimeResult):
                results[process.pid] = outcome
        return results

    def _finish(self, process: DiscoveredProcess, started: _Started) -> RuntimeResult:
        try:
            return self.profiler.finish_one(process, started)
        except Exception as error:
            logger.exception("the recording of pid %d could not be used", process.pid)
            return RuntimeResult(process.info.comm, error=f"recording unusable: {error!r}")

    def _late(self, future: "concurrent.futures.Future[Any]", *, pid: int) -> None:
        """A start that finished after its cycle was written: stop it, keep nothing."""
        outcome = None if future.cancelled() else future.result()
        if isinstance(outcome, _Started):
            self.profiler.abandon(outcome, pid)


SPEC = ProfilerSpec(
    name="java",
    modes=("auto", "jfr", "ap", "disabled"),
    default_mode="auto",
    mode_help="Java: jfr (the JVM's own Flight Recorder, nothing injected), ap (async-profiler, when "
    "its library is given), auto (ap if available, else jfr), or disabled",
    options_type=JavaOptions,
    factory=JavaProfiler,
    validate=validate_options,
    max_frequency=100,
)
