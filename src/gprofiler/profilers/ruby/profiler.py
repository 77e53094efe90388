"""Ruby processes: one non-blocking `rbspy record` per process and cycle (gProfiler's command line),
on the processes that used CPU, each sampled as much as the CPU it used calls for. rbspy is built
from the pinned crates.io crate at setup (scripts/build_rbspy.py) and bundled into the executable."""

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gprofiler.argtypes import positive_integer
from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.runtimes import RUBY
from gprofiler.profilers.base import ProfilerContext, RuntimeProfiler, RuntimeResult
from gprofiler.profilers.registry import ProfilerSpec, option
from gprofiler.profilers.sampling import sampling_plan
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

RUBY_SUFFIX = "_[rb]"
RBSPY_MAX_FREQUENCY = 100
DEFAULT_MAX_PROCESSES = 64


def find_rbspy(explicit_path: str | None) -> str:
    """`--ruby-rbspy-path`, else the executable's (or the checkout's) own, else PATH."""
    return find_tool("rbspy", explicit_path, "./dev.sh setup builds it, or pass --ruby-rbspy-path")


def rbspy_argv(rbspy: str, pid: int, rate: int, duration: int, output: Path) -> list[str]:
    """gProfiler's rbspy command line: non-blocking, on-CPU samples only, collapsed output; the raw
    samples rbspy would otherwise keep under ~/.cache go to /dev/null."""
    argv = [rbspy, "record", "--silent", "-r", str(rate), "-d", str(duration), "--nonblocking", "--on-cpu"]
    return [*argv, "--format", "collapsed", "--file", str(output), "--raw-file", "/dev/null", "-p", str(pid)]


def parse_rbspy_collapsed(text: str, comm: str) -> StackCounts:
    """rbspy's collapsed output (`frame;frame;... count`, root first; each frame `method - file:line`)
    as stacks under `comm`, each frame marked `_[rb]`."""
    return parse_tool_output(text, comm, lambda frame: frame + RUBY_SUFFIX)


@dataclass(frozen=True)
class RubyOptions:
    max_processes: int = option(
        DEFAULT_MAX_PROCESSES,
        "--ruby-max-processes",
        type=positive_integer,
        help="Most Ruby processes profiled with rbspy per cycle, the busiest first (default: %(default)s)",
    )
    rbspy_path: str | None = option(
        None, "--ruby-rbspy-path", help="The rbspy binary (default: the one bundled with gprofiler)"
    )


class RbSpyProfiler(RuntimeProfiler):
    name = "ruby"
    runtime = RUBY
    per_process = True

    def __init__(self, context: ProfilerContext, mode: str, options: RubyOptions) -> None:
        self.context = context
        self.rate = context.frequency
        self.max_processes = options.max_processes
        self._explicit_path = options.rbspy_path
        self.rbspy = ""
        self.cycles = 0  # names each cycle's output files: cycles overlap

    def start(self) -> None:
        self.rbspy = find_rbspy(self._explicit_path)

    def begin_cycle(self, processes: list[DiscoveredProcess], cpu: Mapping[int, float]) -> ToolRunsCycle:
        self.cycles += 1
        runs = []
        for process in processes:
            output = self.context.workdir / f"rbspy.{process.pid}.{process.info.start_time}.{self.cycles}.txt"
            rate, seconds = sampling_plan(self.rate, self.context.duration, cpu.get(process.pid, 1.0))
            run = start_run(
                "rbspy", rbspy_argv(self.rbspy, process.pid, rate, seconds, output), process, output
            )
            if run is not None:
                runs.append(run)
        deadline = time.monotonic() + self.context.duration + START_ALLOWANCE
        context = self.context
        return ToolRunsCycle("rbspy", runs, deadline, context.stop_event, context.proc_root, _parsed, _failed)


def _parsed(run: ToolRun, text: str) -> RuntimeResult:
    return RuntimeResult(run.process.info.comm, stacks=parse_rbspy_collapsed(text, run.process.info.comm))


def _failed(run: ToolRun, stderr: str) -> RuntimeResult:
    return RuntimeResult(run.process.info.comm, error=f"rbspy: {tool_error(stderr)}")


SPEC = ProfilerSpec(
    name="ruby",
    modes=("rbspy", "disabled"),
    default_mode="rbspy",
    mode_help="Ruby profiler: rbspy (non-blocking: the process is never paused) or disabled",
    options_type=RubyOptions,
    factory=RbSpyProfiler,
    max_frequency=RBSPY_MAX_FREQUENCY,
)
