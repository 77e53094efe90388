"""One cycle of a profiler that runs a tool per process (py-spy, rbspy): the tools run by
themselves for the cycle's duration, each writing a file of its own; `results()` waits for them,
reads each file into stacks, and makes each failure that process's error frame only."""

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gprofiler.bundle import bundled_tool
from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.procfs import is_running
from gprofiler.profilers.base import ProfilerUnavailableError, RuntimeResult
from gprofiler.runner import ChildProcess, StoppedError, ToolError

logger = logging.getLogger(__name__)

START_ALLOWANCE = 10  # seconds a tool may take beyond the cycle to start, attach and write


def find_tool(name: str, explicit_path: str | None, how_to_get: str, *directories: str) -> str:
    """The tool at `explicit_path` (its option), else the executable's (or the checkout's) own, else
    the first found in `directories`, else on PATH; ProfilerUnavailableError saying `how_to_get` it."""
    if explicit_path:
        if os.path.isfile(explicit_path) and os.access(explicit_path, os.X_OK):
            return explicit_path
        raise ProfilerUnavailableError(f"{name} not found at {explicit_path}")
    found = bundled_tool(name)
    for directory in directories:
        found = found or shutil.which(name, path=directory)
    found = found or shutil.which(name)
    if found is None:
        raise ProfilerUnavailableError(f"{name} not found ({how_to_get})")
    return found


@dataclass
class ToolRun:
    process: DiscoveredProcess
    output: Path
    child: ChildProcess


def start_run(tool: str, argv: list[str], process: DiscoveredProcess, output: Path) -> ToolRun | None:
    """A tool started for one process; it ends by itself (no PDEATHSIG: see runner.py)."""
    try:
        child = ChildProcess(argv, stdout=subprocess.DEVNULL, die_with_parent=False)
    except ToolError as error:
        logger.warning("cannot start %s for pid %d: %s", tool, process.pid, error)
        return None
    return ToolRun(process, output, child)


@dataclass
class ToolRunsCycle:
    """`parse(run, text)`: the stacks of a run that wrote its file; `failed(run, stderr)`: the
    result of a run that did not, for a process still alive (a process that exited during the cycle
    gets none: perf's samples are all there is)."""

    tool: str
    runs: list[ToolRun]
    deadline: float
    stop_event: threading.Event
    proc_root: Path
    parse: Callable[[ToolRun, str], RuntimeResult]
    failed: Callable[[ToolRun, str], RuntimeResult]

    def results(self, timeout: float) -> dict[int, RuntimeResult]:
        deadline = min(self.deadline, time.monotonic() + timeout)
        results: dict[int, RuntimeResult] = {}
        try:
            for run in self.runs:
                try:
                    result = self._finish(run, deadline)
                except StoppedError:
                    raise
                except Exception as error:  # one process's output costs that process only
                    logger.exception("%s output of pid %d could not be used", self.tool, run.process.pid)
                    result = RuntimeResult(
                        run.process.info.comm, error=f"{self.tool} output unusable: {error!r}"
                    )
                if result is not None:
                    results[run.process.pid] = result
        finally:
            for run in self.runs:
                if run.child.is_running():
                    run.child.stop(grace_seconds=0.5, first_signal=signal.SIGKILL)
                run.output.unlink(missing_ok=True)
        return results

    def _finish(self, run: ToolRun, deadline: float) -> RuntimeResult | None:
        while run.child.is_running():
            if self.stop_event.wait(0.05):
                raise StoppedError(f"{self.tool} interrupted: the agent is stopping")
            if time.monotonic() > deadline:
                run.child.stop(grace_seconds=0.5, first_signal=signal.SIGKILL)
                return RuntimeResult(run.process.info.comm, error=f"{self.tool} timed out")
        code = run.child.wait()
        info = run.process.info
        if code == 0 and run.output.exists():
            return self.parse(run, run.output.read_text(errors="replace"))
        if not is_running(self.proc_root, info.pid, info.start_time):
            return None
        return self.failed(run, run.child.stderr_tail())


def tool_error(stderr: str) -> str:
    """The line of a tool's stderr that says what went wrong (`Error: ...`, else the last line)."""
    lines = [line.strip() for line in stderr.split("\n") if line.strip()]
    for line in lines:
        if line.startswith("Error:"):
            return line[len("Error:") :].strip()
    return lines[-1] if lines else "no output"
