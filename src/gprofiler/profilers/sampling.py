"""One cycle of an in-process sampler (Python's, PHP's): a thread takes every target's samples on
schedule, then `results()` turns them into stacks under each process's comm.

Each target is read by its runtime's `Sampled` (made when the cycle starts, closed when it ends);
targets that share a rate share a phase, so one wake-up samples them all (a wake-up costs more
than a sample). The cost of a cycle follows the samples taken, which follow the CPU the processes
used (the profilers' `sampling_plan`), not how many processes there are.
"""

import heapq
import logging
import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.procfs import is_running
from gprofiler.profilers.base import RuntimeResult
from gprofiler.profilers.remote_memory import NotRunningError, RemoteReadError
from gprofiler.stacks.model import StackCounts

logger = logging.getLogger(__name__)

_BATCH_SECONDS = 0.005  # samples due this close together are taken in one wake-up
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_KEPT_THREAD_FILES = 32  # per process: /proc/PID/task/TID/stat kept open for the cycle, re-read with pread


MIN_SAMPLES = 10  # a process busy enough to profile gets at least this many samples


def sampling_plan(rate: int, duration: int, cpu_share: float) -> tuple[int, int]:
    """A sampler's (rate, seconds) for a process that used `cpu_share` of a core: about the samples
    perf is expected to take of it (its stacks are scaled to perf's count anyway), so its cost
    follows the CPU the process uses. A process with a core to itself is sampled at the full rate
    for the whole cycle; below 1 Hz's worth, it samples at 1 Hz for part of the cycle (at least
    MIN_SAMPLES seconds): one of 50 processes sharing two cores takes 24 samples in the first 24
    seconds of a 60-second cycle instead of 660 over all of it."""
    wanted = cpu_share * rate  # samples per second
    if wanted >= 1:
        return min(rate, math.ceil(wanted)), duration
    return 1, min(duration, max(MIN_SAMPLES, math.ceil(wanted * duration)))


class Sampled(Protocol):
    """One target's reader for one cycle."""

    def sample(self, active: Callable[[int], bool]) -> list[tuple[str, ...]]:
        """The stacks (root first) of this instant; `active(tid)` tells whether a thread runs.
        Raises RemoteReadError (this sample is lost) or NotRunningError (no more samples)."""

    def close(self) -> None: ...


@dataclass
class Target:
    process: DiscoveredProcess
    open: Callable[[], Sampled]  # called by the cycle's thread when the cycle starts
    rate: int  # samples per second
    seconds: int  # sampled for the first `seconds` of the cycle
    name: str  # the sampler's name in error frames ("python sampler")
    stacks: StackCounts = field(default_factory=Counter)
    errors: int = 0
    last_error: str = ""
    reader: Sampled | None = None
    not_running: bool = False  # the runtime's library is there but no interpreter runs (gdb, vim...)
    thread_files: dict[int, int] = field(default_factory=dict)  # thread ID -> its open stat file


def _running(stat: bytes) -> bool:
    return stat.rpartition(b")")[2][1:2] == b"R"


class SamplerCycle:
    def __init__(self, targets: list[Target], proc_root: Path, include_idle: bool, name: str) -> None:
        self.targets, self.proc_root, self.include_idle = targets, proc_root, include_idle
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        schedule = []
        phases: dict[int, float] = {}
        for index, target in enumerate(self.targets):
            try:
                target.reader = target.open()
            except OSError as error:
                target.errors, target.last_error = 1, f"cannot read its memory: {error.strerror}"
                continue
            # A random phase keeps the samples from lining up with the cycle.
            first = phases.setdefault(target.rate, start + random.uniform(0, 1 / target.rate))
            schedule.append((first, index, first + target.seconds))
        heapq.heapify(schedule)
        while schedule and not self._cancel.is_set():
            if self._cancel.wait(max(0.0, schedule[0][0] - time.monotonic())):
                break
            now = time.monotonic()
            while schedule and schedule[0][0] <= now + _BATCH_SECONDS:
                due, index, end = heapq.heappop(schedule)
                target = self.targets[index]
                if self._sample(target):
                    following = due + 1 / target.rate
                    if following < end:
                        heapq.heappush(schedule, (max(following, now), index, end))

    def _sample(self, target: Target) -> bool:
        """One sample of a target; False once it cannot be read any more (it exited)."""
        assert target.reader is not None
        try:
            for stack in target.reader.sample(lambda tid: self._active(target, tid)):
                if stack:
                    key = (target.process.info.comm, *stack)
                    target.stacks[key] += 1
        except NotRunningError as error:
            target.errors, target.last_error, target.not_running = target.errors + 1, str(error), True
            return False
        except RemoteReadError as error:
            target.errors += 1
            target.last_error = str(error)
            return is_running(self.proc_root, target.process.pid, target.process.info.start_time)
        except Exception as error:  # a bug met by what this process holds: it costs this process only
            if not target.errors:
                logger.exception("%s: pid %d", target.name, target.process.pid)
            target.errors, target.last_error = target.errors + 1, f"unexpected {error!r}"
        return True

    def _active(self, target: Target, tid: int) -> bool:
        """Whether the OS has the thread running or runnable (py-spy's idle test), unless idle
        threads are wanted. The thread's stat file is kept open for the cycle (re-read from offset 0,
        the kernel writes it anew), which halves the cost of the test."""
        if self.include_idle:
            return True
        fd = target.thread_files.get(tid)
        if fd is None:
            try:
                fd = os.open(f"{self.proc_root}/{target.process.pid}/task/{tid}/stat", _READ_FLAGS)
            except OSError:
                return False
            if len(target.thread_files) >= _KEPT_THREAD_FILES:
                try:
                    return _running(os.pread(fd, 1024, 0))
                except OSError:
                    return False
                finally:
                    os.close(fd)
            target.thread_files[tid] = fd
        try:
            return _running(os.pread(fd, 1024, 0))
        except OSError:  # the thread exited: its file no longer reads
            os.close(target.thread_files.pop(tid))
            return False

    def results(self, timeout: float) -> dict[int, RuntimeResult]:
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._cancel.set()
            self._thread.join()
        results = {}
        for target in self.targets:
            if target.reader is not None:
                target.reader.close()
            for fd in target.thread_files.values():
                os.close(fd)
            target.thread_files.clear()
            info = target.process.info
            if target.stacks or not target.errors:
                results[info.pid] = RuntimeResult(info.comm, stacks=target.stacks)
            elif is_running(self.proc_root, info.pid, info.start_time):
                results[info.pid] = RuntimeResult(info.comm, error=f"{target.name}: {target.last_error}")
        return results
