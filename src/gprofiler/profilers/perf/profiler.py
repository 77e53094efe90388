"""The system-wide profiler: perf samples every process (kernel and native user stacks).

In `fp` or `dwarf` mode one `perf record` runs; in `smart` mode two run side by side and, per process,
the one that produced deeper stacks wins (`stacks.scaling.merge_smart`).
"""

import argparse
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from gprofiler.argtypes import positive_integer
from gprofiler.discovery.procfs import is_running
from gprofiler.perf_tool import KallsymsCopy, PerfError, find_perf, perf_script_argv
from gprofiler.profilers.base import ProfilerContext
from gprofiler.profilers.perf.record import PerfRecorder, RecordOptions, VdsoTempFiles, may_leave_vdso_copies
from gprofiler.profilers.registry import ProfilerSpec, option
from gprofiler.runner import ToolFailedError, stream_stdout
from gprofiler.stacks.model import PidStacks
from gprofiler.stacks.perf_script import CollapseResult, FrameCache, collapse_perf_script, read_chunks
from gprofiler.stacks.scaling import merge_smart

logger = logging.getLogger(__name__)

DWARF_MAX_FREQUENCY = 100
DWARF_MAX_STACK_SIZE = 65528  # perf's own limit for --call-graph dwarf,<size>
_UNWINDERS = {"fp": ("fp",), "dwarf": ("dwarf",), "smart": ("fp", "dwarf")}


@dataclass(frozen=True)
class PerfOptions:
    dwarf_stack_size: int = option(
        8192,
        "--perf-dwarf-stack-size",
        type=positive_integer,
        help="Bytes of user stack perf copies per sample in dwarf mode (default: %(default)s)",
    )
    path: str | None = option(
        None, "--perf-path", help="The perf binary to run (default: the first perf on PATH)"
    )


def _validate(args: argparse.Namespace) -> str | None:
    if args.perf_mode in ("dwarf", "smart") and args.frequency > DWARF_MAX_FREQUENCY:
        return (
            f"--profiling-frequency can't be larger than {DWARF_MAX_FREQUENCY} "
            f"with --perf-mode {args.perf_mode}"
        )
    if args.perf_dwarf_stack_size > DWARF_MAX_STACK_SIZE:
        return f"--perf-dwarf-stack-size maximum size is {DWARF_MAX_STACK_SIZE}"
    return None


@dataclass
class PerfSnapshot:
    """One cycle of perf data, merged across recorders."""

    end_time: datetime
    stacks: PidStacks
    samples: int
    dropped_samples: int
    script_seconds: float


class AllTargetsExitedError(Exception):
    """Every process given with --pids has exited; there is nothing left to profile."""


class PerfProfiler:
    """Drives one or two `perf record`s and turns each cycle's data into stacks."""

    def __init__(
        self,
        *,
        mode: str,
        frequency: int,
        dwarf_stack_size: int,
        pids: tuple[int, ...] | None,
        perf_path: str | None,
        workdir: Path,
        stop_event: threading.Event,
        script_timeout: float,
        follow: bool = False,
    ) -> None:
        """With `follow`, perf records only the processes `retarget()` names (--containers)."""
        self.perf = find_perf(perf_path)
        self.mode = mode
        self._stop_event = stop_event
        self._script_timeout = script_timeout
        self._pids = pids
        self._frame_cache = FrameCache()
        self._workdir = workdir
        self._kallsyms = KallsymsCopy(workdir)
        self._follow = follow
        self._targets: dict[int, int] = {}  # follow mode: pid -> start time of what perf records
        self._generation = 0
        self._unread: set[Path] = set()  # files switch() handed out that collect() has not read yet
        self._vdso_copies = VdsoTempFiles(enabled=may_leave_vdso_copies())
        self.recorders = self._recorders(frequency, dwarf_stack_size, pids)

    def _recorders(
        self, frequency: int, dwarf_stack_size: int, pids: tuple[int, ...] | None
    ) -> list[PerfRecorder]:
        return [
            PerfRecorder(
                self.perf,
                self._workdir,
                RecordOptions(frequency, unwinding, dwarf_stack_size, pids),
                self._stop_event,
                self._generation,
            )
            for unwinding in _UNWINDERS[self.mode]
        ]

    @property
    def idle(self) -> bool:
        """Follow mode with nothing to record (no process in the wanted containers)."""
        return self._follow and not self._targets

    def start(self) -> None:
        if self.idle:
            logger.info("perf waits for processes in the wanted containers")
            return
        try:
            for recorder in self.recorders:
                if not recorder.is_running():  # follow mode: retarget() may have started it already
                    recorder.start()
        except BaseException:
            self.stop()
            raise

    def retarget(self, processes: Mapping[int, tuple[int, int]]) -> None:
        """Follow mode: record exactly `processes` ({pid: (ppid, start time)}) from now on.

        perf follows the children its targets fork, so it is restarted (a gap of its start-up time,
        at the start of a cycle) only when a process appears that descends from none of them.
        """
        assert self._follow
        covered = {pid for pid, (_, start) in processes.items() if self._targets.get(pid) == start}
        changed = True
        while changed:
            changed = False
            for pid, (ppid, _) in processes.items():
                if pid not in covered and ppid in covered:
                    covered.add(pid)
                    changed = True
        new = set(processes) - covered
        running = all(recorder.is_running() for recorder in self.recorders)
        if processes and not new and running:
            return
        if not processes and not self._targets:
            return  # idle, and nothing to record yet
        for recorder in self.recorders:
            recorder.stop(keep=self._unread)
        # perf refuses a --pid list with a process that is gone, and a container's processes come and go
        self._targets = {
            pid: start for pid, (_, start) in processes.items() if is_running(Path("/proc"), pid, start)
        }
        if not self._targets:
            logger.info("no process left in the wanted containers: perf stops until one appears")
            return
        options = self.recorders[0].options
        pids = tuple(sorted(self._targets))
        logger.info("perf now records %d processes of the wanted containers", len(pids))
        self._generation += 1
        self.recorders = self._recorders(options.frequency, options.dwarf_stack_size, pids)
        try:
            self.start()
        except PerfError as error:
            # e.g. a process exited between the check and perf's start: this cycle goes without
            # perf, and the next boundary tries again on the processes alive then
            logger.warning("perf could not start on the wanted containers' processes: %s", error)
            self._targets = {}

    def switch(self) -> tuple[datetime, list[Path]]:
        """End the current cycle now: every recorder closes its file and keeps sampling."""
        if self.idle:
            return datetime.now(timezone.utc), []
        dumps = [recorder.switch_output() for recorder in self.recorders]
        self._unread.update(dumps)
        return datetime.now(timezone.utc), dumps

    def collect(self, end_time: datetime, dumps: list[Path]) -> PerfSnapshot:
        """Script the files of one cycle (deleting them), merge recorders, count."""
        started = time.monotonic()
        results: list[CollapseResult] = []
        try:
            for dump in dumps:
                results.append(self._script(dump))
        finally:
            for dump in dumps:
                dump.unlink(missing_ok=True)
                self._unread.discard(dump)
        script_seconds = time.monotonic() - started
        self._frame_cache.next_cycle()
        if not results:
            return PerfSnapshot(end_time, {}, 0, 0, script_seconds)
        stacks = merge_smart(results[0].stacks, results[1].stacks) if len(results) == 2 else results[0].stacks
        return PerfSnapshot(
            end_time=end_time,
            stacks=stacks,
            samples=sum(sum(c.values()) for c in stacks.values()),
            dropped_samples=sum(r.dropped_samples for r in results),
            script_seconds=script_seconds,
        )

    def _script(self, dump: Path) -> CollapseResult:
        result: CollapseResult | None = None
        try:
            with (
                self._vdso_copies.around_run(),
                stream_stdout(
                    perf_script_argv(self.perf, dump, self._kallsyms.current(time.monotonic())),
                    timeout=self._script_timeout,
                    stop_event=self._stop_event,
                ) as output,
            ):
                result = collapse_perf_script(read_chunks(output), self._frame_cache)
        except ToolFailedError as error:
            if result is None:
                raise PerfError(f"perf script failed: {error}") from error
            logger.warning("perf script failed after %d samples (kept): %s", result.samples, error)
        assert result is not None
        return result

    def ensure_running(self) -> None:
        """Restart a perf that exited on its own (on the --pids targets still alive)."""
        if self._follow:
            return  # the next retarget() restarts it on whatever the wanted containers run then
        for index, recorder in enumerate(self.recorders):
            if recorder.is_running():
                continue
            options = recorder.options
            if options.pids is not None:
                alive = tuple(pid for pid in options.pids if is_running(Path("/proc"), pid))
                if not alive:
                    raise AllTargetsExitedError("every process given with --pids has exited")
                options = RecordOptions(options.frequency, options.unwinding, options.dwarf_stack_size, alive)
            logger.warning("restarting %s", recorder.label)
            replacement = PerfRecorder(self.perf, recorder.output.parent, options, self._stop_event)
            replacement.start()
            self.recorders[index] = replacement

    def stop(self) -> None:
        for recorder in self.recorders:
            recorder.stop()
        self._kallsyms.remove()


def build_perf(context: ProfilerContext, mode: str, options: PerfOptions) -> PerfProfiler:
    return PerfProfiler(
        mode=mode,
        frequency=context.frequency,
        dwarf_stack_size=options.dwarf_stack_size,
        pids=context.pids,
        perf_path=options.path,
        workdir=context.workdir,
        stop_event=context.stop_event,
        script_timeout=max(60.0, 10.0 * context.duration),
        follow=context.containers,
    )


SPEC = ProfilerSpec(
    name="perf",
    modes=("fp", "dwarf", "smart", "disabled"),
    default_mode="fp",
    mode_help=(
        "How perf unwinds native stacks: fp (frame pointers, cheapest), dwarf (debug info, for code "
        "built without frame pointers), smart (both, keeping the deeper stacks per process), disabled"
    ),
    options_type=PerfOptions,
    factory=build_perf,
    disable_flag=False,
    validate=_validate,
)
