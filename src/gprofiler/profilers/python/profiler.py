"""Python processes: the agent's own sampler (`sampler.py`) for the CPython versions it knows
(`--python-mode auto`, the default), one non-blocking `py-spy record` per process and cycle for the
others, and for all with `--python-mode pyspy`."""

import dataclasses
import logging
import sysconfig
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gprofiler.argtypes import positive_integer
from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.runtimes import PYTHON
from gprofiler.profilers.base import ProfilerContext, ProfilerUnavailableError, RuntimeProfiler, RuntimeResult
from gprofiler.profilers.python.sampler import InterpreterFinder, python_target
from gprofiler.profilers.python.versions import PackageVersions
from gprofiler.profilers.registry import ProfilerSpec, option
from gprofiler.profilers.sampling import SamplerCycle, sampling_plan
from gprofiler.profilers.tool_runs import (
    START_ALLOWANCE,
    ToolRun,
    ToolRunsCycle,
    find_tool,
    start_run,
    tool_error,
)
from gprofiler.stacks.model import StackCounts
from gprofiler.stacks.tool_output import parse_tool_output

logger = logging.getLogger(__name__)

_NO_INTERPRETER = "Failed to find a python interpreter"
PYSPY_MAX_FREQUENCY = 50  # above this py-spy's own overhead grows faster than the detail it adds
PYTHON_SUFFIX = "_[p]"
DEFAULT_MAX_PROCESSES = 64


def find_pyspy(explicit_path: str | None) -> str:
    """`--python-pyspy-path`, else the executable's own, else the one installed with gprofiler, else PATH."""
    scripts = sysconfig.get_path("scripts")
    return find_tool("py-spy", explicit_path, "pip install py-spy, or pass --python-pyspy-path", scripts)


def pyspy_argv(
    pyspy: str, pid: int, rate: int, duration: int, output: Path, idle: bool, gil_only: bool = False
) -> list[str]:
    """py-spy's command line: non-blocking, raw output, frames aggregated per function.

    Every running thread is sampled and waiting ones dropped (unless `idle`). py-spy tells them
    apart by reading /proc by thread ID, which is wrong for a process in another PID namespace (a
    container): there every sleeping thread would count, so `gil_only` samples just the thread
    holding the GIL (`--gil`, what gProfiler does for every process).
    """
    argv = [pyspy, "record", "-p", str(pid), "-r", str(rate), "-d", str(duration), "--nonblocking"]
    argv += ["-f", "raw", "-F", "--full-filenames", "-o", str(output)]
    if idle:
        return [*argv, "--idle"]
    return [*argv, "--gil"] if gil_only else argv


def parse_pyspy_raw(text: str, comm: str) -> StackCounts:
    """py-spy's raw output (`frame;frame;... count`, root first) as stacks under `comm`."""
    return parse_tool_output(text, comm, lambda frame: frame + PYTHON_SUFFIX)


def pyspy_error(stderr: str) -> str:
    """The line of py-spy's stderr that says what went wrong."""
    return tool_error(stderr)


@dataclass(frozen=True)
class PythonOptions:
    add_versions: bool = option(
        True,
        "--python-add-versions",
        help="Add [package==version] to frames of installed packages (default)",
        negative=("--no-python-versions", "Do not add package versions to Python frames"),
    )
    include_idle: bool = option(
        False,
        "--python-include-idle",
        help="Sample waiting Python threads too (py-spy --idle); by default only running "
        "ones (and in other PID namespaces only the thread holding the GIL)",
    )
    max_processes: int = option(
        DEFAULT_MAX_PROCESSES,
        "--python-max-processes",
        type=positive_integer,
        help="Most Python processes profiled with py-spy per cycle, the busiest first (default: %(default)s)",
    )
    pyspy_path: str | None = option(
        None, "--python-pyspy-path", help="The py-spy binary (default: the one installed with gprofiler)"
    )


class PythonCycle:
    """A cycle's sampler and py-spy runs; the sampler's stacks get package versions here (py-spy's
    get them as each run is read)."""

    def __init__(self, profiler: "PySpyProfiler", sampler: SamplerCycle | None, pyspy: ToolRunsCycle) -> None:
        self.profiler, self.sampler, self.pyspy = profiler, sampler, pyspy

    def results(self, timeout: float) -> dict[int, RuntimeResult]:
        deadline = time.monotonic() + timeout
        results = {}
        try:
            if self.sampler is not None:
                results = self.sampler.results(timeout)
                for target in self.sampler.targets:
                    result = results.get(target.process.pid)
                    if result is not None and result.stacks:
                        stacks = self.profiler.annotate(target.process, result.stacks)
                        results[target.process.pid] = dataclasses.replace(result, stacks=stacks)
                    if target.not_running:
                        self.profiler.not_python.add(target.process.info.key)
        finally:
            results.update(self.pyspy.results(max(0.0, deadline - time.monotonic())))
        return results


class PySpyProfiler(RuntimeProfiler):
    name = "python"
    runtime = PYTHON
    per_process = True

    def __init__(self, context: ProfilerContext, mode: str, options: PythonOptions) -> None:
        self.context = context
        self.rate = min(context.frequency, PYSPY_MAX_FREQUENCY)
        self.add_versions = options.add_versions
        self.idle = options.include_idle
        self.max_processes = options.max_processes
        self._explicit_path = options.pyspy_path
        self.pyspy = ""
        self.versions = PackageVersions(context.proc_root)
        self.not_python: set[tuple[int, int]] = set()
        self.cycles = 0  # names each cycle's output files: cycles overlap (see begin_cycle)
        self.finder = InterpreterFinder(context.proc_root, PYTHON_SUFFIX) if mode == "auto" else None

    def start(self) -> None:
        try:
            self.pyspy = find_pyspy(self._explicit_path)
        except ProfilerUnavailableError as error:
            if self.finder is None:
                raise
            logger.warning("%s: Python versions the agent's sampler does not read are left to perf", error)

    def annotate(self, process: DiscoveredProcess, stacks: StackCounts) -> StackCounts:
        if not self.add_versions or not stacks:
            return stacks
        version = (process.metadata or {}).get("python_version")
        try:
            return self.versions.annotate(process.pid, version, stacks)
        except (OSError, ValueError):
            logger.debug("cannot read package versions of pid %d", process.pid, exc_info=True)
            return stacks

    def samples_idle(self) -> bool:
        return self.idle

    def wants(self, process: DiscoveredProcess) -> bool:
        return process.info.key not in self.not_python

    def begin_cycle(self, processes: list[DiscoveredProcess], cpu: Mapping[int, float]) -> PythonCycle:
        """The sampler or py-spy on each of these processes (the coordinator chose them: the
        busiest, up to --python-max-processes), each sampled as much as the CPU it used calls for
        (`sampling_plan`)."""
        targets, spied = [], []
        for process in processes:
            interpreter = self.finder.find(process) if self.finder is not None else None
            if interpreter is None:
                spied.append(process)
                continue
            plan = self._plan(process, cpu)
            gil_only = process.info.nspid != process.pid and not self.idle  # as for py-spy: see pyspy_argv
            targets.append(python_target(process, interpreter, self.context.proc_root, plan, gil_only))
        root = self.context.proc_root
        sampler = SamplerCycle(targets, root, self.idle, "python-sampler") if targets else None
        return PythonCycle(self, sampler, self._pyspy_cycle(spied, cpu))

    def _plan(self, process: DiscoveredProcess, cpu: Mapping[int, float]) -> tuple[int, int]:
        if self.idle:
            return self.rate, self.context.duration
        return sampling_plan(self.rate, self.context.duration, cpu.get(process.pid, 1.0))

    def _pyspy_cycle(self, processes: list[DiscoveredProcess], cpu: Mapping[int, float]) -> ToolRunsCycle:
        runs = []
        # The next cycle's py-spys start before this one's output is read, and a short run can end
        # before that: each cycle's files have their own names, or one cycle would read (and delete)
        # the next one's.
        self.cycles += 1
        for process in processes if self.pyspy else ():  # not found: perf's stacks are all there is
            output = self.context.workdir / f"pyspy.{process.pid}.{process.info.start_time}.{self.cycles}.txt"
            in_own_pid_namespace = process.info.nspid != process.pid
            rate, seconds = self._plan(process, cpu)
            argv = pyspy_argv(self.pyspy, process.pid, rate, seconds, output, self.idle, in_own_pid_namespace)
            run = start_run("py-spy", argv, process, output)
            if run is not None:
                runs.append(run)
        deadline = time.monotonic() + self.context.duration + START_ALLOWANCE
        context = self.context
        return ToolRunsCycle(
            "py-spy", runs, deadline, context.stop_event, context.proc_root, self._parsed, self._failed
        )

    def _parsed(self, run: ToolRun, text: str) -> RuntimeResult:
        stacks = parse_pyspy_raw(text, run.process.info.comm)
        return RuntimeResult(run.process.info.comm, stacks=self.annotate(run.process, stacks))

    def _failed(self, run: ToolRun, stderr: str) -> RuntimeResult:
        error = pyspy_error(stderr)
        info = run.process.info
        if _NO_INTERPRETER in error:
            # libpython is mapped but no interpreter runs (gdb, vim, perf's scripting...): say so in
            # this cycle's profile, then leave the process to perf in the next ones.
            self.not_python.add(info.key)
            logger.info("pid %d maps libpython but runs no interpreter; leaving it to perf", info.pid)
        return RuntimeResult(info.comm, error=f"py-spy: {error}")


SPEC = ProfilerSpec(
    name="python",
    modes=("auto", "pyspy", "disabled"),
    default_mode="auto",
    mode_help="Python profiler: auto (the agent's own sampler for the CPython versions it reads, py-spy "
    "for the others), pyspy (py-spy for all), or disabled; neither pauses the process",
    options_type=PythonOptions,
    factory=PySpyProfiler,
    max_frequency=PYSPY_MAX_FREQUENCY,
)
