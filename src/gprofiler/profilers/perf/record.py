"""One long-running `perf record` whose output is cut into cycles with --switch-output=signal.

perf keeps sampling while the agent processes the previous cycle, so there is no gap between cycles.
On SIGUSR2 perf finishes the current file, renames it to `<output>.<timestamp>` and starts a new one;
on exit it does the same with the final file. Every file is read once by `perf script`, then deleted.
"""

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from gprofiler.perf_tool import PERF_INSTALL_HINT, PerfError
from gprofiler.runner import ChildProcess, StoppedError, ToolError

logger = logging.getLogger(__name__)

# Ring-buffer pages per CPU (perf wants a power of two): 512 KB for frame pointers, twice that for
# DWARF, whose samples carry a copy of the user stack. Without -m, perf takes all of
# perf_event_mlock_kb, which other tools (async-profiler, a user's own perf) then cannot get.
_MMAP_PAGES = {"fp": 128, "dwarf": 256}
_START_TIMEOUT_S = 10.0
_DUMP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RecordOptions:
    """What one `perf record` samples and how it unwinds stacks."""

    frequency: int
    unwinding: str  # "fp" or "dwarf"
    dwarf_stack_size: int = 8192
    pids: tuple[int, ...] | None = None  # None means every process (-a)


def perf_record_argv(perf: str, output: Path, options: RecordOptions) -> list[str]:
    """The `perf record` command line for one recorder."""
    call_graph = (
        ["--call-graph", f"dwarf,{options.dwarf_stack_size}"] if options.unwinding == "dwarf" else ["-g"]
    )
    target = ["--pid", ",".join(map(str, options.pids))] if options.pids else ["-a"]
    return [
        perf,
        "record",
        "-F",
        str(options.frequency),
        *call_graph,
        *target,
        "-o",
        str(output),
        "--switch-output=signal",
        "-m",
        str(_MMAP_PAGES[options.unwinding]),
        # No build-id post-processing at each switch, and never copy binaries into ~/.debug:
        # symbols are resolved from the live files a few seconds later by `perf script`.
        "--no-buildid",
        "--no-buildid-cache",
    ]


# perf script copies the machine's vDSO to this hard-coded name (tools/perf/util/vdso.c) and unlinks
# it at exit. To read a target's binaries perf enters its mount namespace, and comes back with
# setns(), which puts it at the root of its own namespace: when the agent is chrooted (the executable
# in an empty root, as the tests run it) that is not the root it created the copy under, the unlink
# misses, and one file per cycle is left behind.
VDSO_TEMP_DIR = "/tmp"
VDSO_TEMP_PREFIX = "perf-vdso.so-"


def may_leave_vdso_copies(proc: str = "/proc") -> bool:
    """False on the host itself (init's mount namespace and root), where perf cleans up after itself
    and a /tmp/perf-vdso.so-* file that appears may be another perf's; True anywhere else."""
    try:
        same_namespace = os.stat(f"{proc}/self/ns/mnt").st_ino == os.stat(f"{proc}/1/ns/mnt").st_ino
        root, init_root = os.stat("/"), os.stat(f"{proc}/1/root")
    except OSError:
        return True
    return not (same_namespace and (root.st_dev, root.st_ino) == (init_root.st_dev, init_root.st_ino))


class VdsoTempFiles:
    """Removes the vDSO copies a `perf script` run leaves behind (when enabled)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _names(self) -> set[str]:
        try:
            return {name for name in os.listdir(VDSO_TEMP_DIR) if name.startswith(VDSO_TEMP_PREFIX)}
        except OSError:
            return set()

    @contextlib.contextmanager
    def around_run(self) -> Iterator[None]:
        """Files of that name that appear during the block (and are ours) are removed after it."""
        if not self.enabled:
            yield
            return
        before = self._names()
        try:
            yield
        finally:
            for name in self._names() - before:
                path = os.path.join(VDSO_TEMP_DIR, name)
                with contextlib.suppress(OSError):
                    if os.lstat(path).st_uid == os.geteuid():
                        os.unlink(path)


class PerfRecorder:
    """Owns one `perf record` process and the files it writes in a private work directory."""

    def __init__(
        self,
        perf: str,
        workdir: Path,
        options: RecordOptions,
        stop_event: threading.Event,
        generation: int = 0,
    ) -> None:
        """A later `generation` (a restart on other targets) writes files of its own names, so the
        previous recorder's last file survives it until it is read."""
        self.perf = perf
        self.options = options
        suffix = f".g{generation}" if generation else ""
        self.output = workdir / f"perf.{options.unwinding}{suffix}.data"
        self._stop_event = stop_event
        self._child: ChildProcess | None = None
        self.label = f"perf ({options.unwinding})"

    def _dumps(self) -> set[Path]:
        prefix = self.output.name + "."
        return {p for p in self.output.parent.iterdir() if p.name.startswith(prefix)}

    def start(self) -> None:
        """Start perf and wait until it is sampling (its output file exists)."""
        for stale in self._dumps() | {self.output}:
            stale.unlink(missing_ok=True)
        argv = perf_record_argv(self.perf, self.output, self.options)
        logger.debug("starting %s: %s", self.label, " ".join(argv))
        try:
            child = ChildProcess(argv)
        except ToolError as error:
            raise PerfError(f"cannot run perf: {error}; {PERF_INSTALL_HINT}") from error
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.output.exists():
            if not child.is_running():
                child.wait()
                raise PerfError(f"{self.label} failed to start: {child.stderr_tail() or 'no output'}")
            if self._stop_event.wait(0.05):
                child.stop()
                raise StoppedError(f"{self.label}: stopping while it started")
            if time.monotonic() > deadline:
                child.stop()
                raise PerfError(f"{self.label} did not start within {_START_TIMEOUT_S:g}s")
        self._child = child
        logger.info("started %s at %d Hz (pid %d)", self.label, self.options.frequency, child.pid)

    def is_running(self) -> bool:
        return self._child is not None and self._child.is_running()

    def switch_output(self) -> Path:
        """Close the current file and return it; perf carries on sampling into a new one.

        If perf has exited on its own (e.g. every `--pids` target exited), its final file is returned
        and the recorder is left stopped; `start()` resumes it.
        """
        child = self._child
        if child is None:
            raise PerfError(f"{self.label} is not running")
        known = self._dumps()
        if child.is_running():
            child.send_signal(signal.SIGUSR2)
            deadline = time.monotonic() + _DUMP_TIMEOUT_S
            while child.is_running():
                new = self._dumps() - known
                if new:
                    return self._keep_newest(new)
                if time.monotonic() > deadline:
                    raise PerfError(f"{self.label} did not write its data within {_DUMP_TIMEOUT_S:g}s")
                if self._stop_event.wait(0.02):
                    raise StoppedError(f"{self.label}: stopping while waiting for its data")
        tail = self._reap()  # perf renames its final file on exit; after reaping, it is there
        dumps = self._dumps()
        if dumps:
            return self._keep_newest(dumps)
        raise PerfError(f"{self.label} exited without writing its data: {tail or 'no output'}")

    @staticmethod
    def _keep_newest(dumps: set[Path]) -> Path:
        """perf writes one file per switch; anything older is a leftover and is removed."""
        ordered = sorted(dumps)
        for extra in ordered[:-1]:
            extra.unlink(missing_ok=True)
        return ordered[-1]

    def _reap(self) -> str:
        child, self._child = self._child, None
        if child is None:
            return ""
        code = child.stop(grace_seconds=1.0)
        tail = child.stderr_tail()
        logger.warning("%s exited (code %s): %s", self.label, code, tail.splitlines()[-1:] or "")
        return tail

    def stop(self, keep: Collection[Path] = ()) -> None:
        """Stop perf (SIGTERM, then SIGKILL) and delete every file it wrote but `keep`."""
        child, self._child = self._child, None
        if child is not None:
            child.stop(grace_seconds=2.0)
            logger.debug("stopped %s", self.label)
        for leftover in (self._dumps() | {self.output}) - set(keep):
            leftover.unlink(missing_ok=True)
