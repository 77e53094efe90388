"""PHP processes: the agent's own sampler reads each chosen process's Zend engine in place
(`remote.py`), phpspy's method without phpspy. The mode keeps gProfiler's name (`--php-mode
phpspy`), as do `--no-php` and `--php-proc-filter`; nothing of phpspy is run or bundled."""

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gprofiler.argtypes import regular_expression
from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.procfs import parse_mapped_paths
from gprofiler.discovery.runtimes import PHP, runtime_library
from gprofiler.discovery.symbols import MappedSymbols, PerProcess, read_maps
from gprofiler.profilers.base import ProfilerContext, RuntimeProfiler, RuntimeResult
from gprofiler.profilers.php.layouts import layout_for, major_minor
from gprofiler.profilers.php.remote import PhpRuntime, PhpStackReader
from gprofiler.profilers.registry import ProfilerSpec, option
from gprofiler.profilers.remote_memory import ProcessMemory
from gprofiler.profilers.sampling import SamplerCycle, Target, sampling_plan

logger = logging.getLogger(__name__)

PHP_SUFFIX = "_[php]"
PHP_MAX_FREQUENCY = 50
DEFAULT_PROC_FILTER = "php-fpm"  # gProfiler's default (phpspy's -P pattern)
DEFAULT_MAX_PROCESSES = 64
_EXECUTOR_GLOBALS = "executor_globals"
_ZTS_OFFSET = "executor_globals_offset"  # what a thread-safe (ZTS) build exports instead


@dataclass(frozen=True)
class PhpOptions:
    proc_filter: str = option(
        DEFAULT_PROC_FILTER,
        "--php-proc-filter",
        type=regular_expression,
        help="Profile only PHP processes whose name (comm) this regular expression finds "
        f"(default: {DEFAULT_PROC_FILTER}, as gProfiler; '.' for every PHP process)",
    )


class PhpSampled:
    """A target's reads for one cycle: a PHP process (non-ZTS: one thread) when the OS runs it."""

    def __init__(self, reader: PhpStackReader, pid: int) -> None:
        self.reader, self.pid = reader, pid

    def sample(self, active: Callable[[int], bool]) -> list[tuple[str, ...]]:
        return [self.reader.stack()] if active(self.pid) else []

    def close(self) -> None:
        self.reader.memory.close()


class PhpCycle:
    def __init__(self, sampler: SamplerCycle | None, errors: dict[int, RuntimeResult]) -> None:
        self.sampler, self.errors = sampler, errors

    def results(self, timeout: float) -> dict[int, RuntimeResult]:
        results = self.sampler.results(timeout) if self.sampler is not None else {}
        return {**self.errors, **results}


class PhpProfiler(RuntimeProfiler):
    name = "php"
    runtime = PHP
    per_process = True
    max_processes = DEFAULT_MAX_PROCESSES

    def __init__(self, context: ProfilerContext, mode: str, options: PhpOptions) -> None:
        self.context = context
        self.proc_filter = re.compile(options.proc_filter)
        self.rate = context.frequency
        self._symbols = MappedSymbols(context.proc_root, {_EXECUTOR_GLOBALS, _ZTS_OFFSET})
        self._runtimes: PerProcess[PhpRuntime | str] = PerProcess(self._find)
        self._reported: set[tuple[int, int]] = set()  # processes told they cannot be profiled

    def wants(self, process: DiscoveredProcess) -> bool:
        return bool(self.proc_filter.search(process.info.comm)) and process.info.key not in self._reported

    def _find(self, process: DiscoveredProcess) -> PhpRuntime | str | None:
        """The process's engine, or why it cannot be read (said once, in an error frame)."""
        version = (process.metadata or {}).get("php_version")
        layout = layout_for(version)
        if layout is None:
            return f"PHP {major_minor(version) or version or '(version unknown)'} is not supported"
        maps = read_maps(self.context.proc_root, process.pid)
        holder = runtime_library(PHP, parse_mapped_paths(maps)) or process.info.exe
        placed = self._symbols.place(process.pid, maps, holder)
        if placed is None:
            return None  # not mapped from its start: nothing to read, left to perf
        if _EXECUTOR_GLOBALS not in placed:
            if _ZTS_OFFSET in placed:
                return f"PHP {layout.version} thread-safe (ZTS) builds are not supported"
            return f"no {_EXECUTOR_GLOBALS} in {holder}"
        return PhpRuntime(layout, placed[_EXECUTOR_GLOBALS], PHP_SUFFIX)

    def begin_cycle(self, processes: list[DiscoveredProcess], cpu: Mapping[int, float]) -> PhpCycle:
        targets, errors = [], {}
        for process in processes:
            found = self._runtimes.get(process)
            if isinstance(found, str):  # "PHP 8.5 is not supported": said as it is, once
                errors[process.pid] = RuntimeResult(process.info.comm, error=found)
                self._reported.add(process.info.key)
            elif found is not None:
                plan = sampling_plan(self.rate, self.context.duration, cpu.get(process.pid, 1.0))
                targets.append(php_target(process, found, self.context.proc_root, plan))
        sampler = SamplerCycle(targets, self.context.proc_root, False, "php-sampler") if targets else None
        return PhpCycle(sampler, errors)


def php_target(
    process: DiscoveredProcess, runtime: PhpRuntime, proc_root: Path, plan: tuple[int, int]
) -> Target:
    def open_target() -> PhpSampled:
        return PhpSampled(PhpStackReader(ProcessMemory(proc_root, process.pid), runtime), process.pid)

    rate, seconds = plan
    return Target(process, open_target, rate, seconds, "php sampler")


SPEC = ProfilerSpec(
    name="php",
    modes=("phpspy", "disabled"),
    default_mode="phpspy",  # gProfiler's is disabled: see the README (Languages) for why ours is on
    mode_help="PHP profiler: phpspy (the agent's own sampler, which reads the Zend engine's frames "
    "from the process's memory as phpspy does; the process is never paused) or disabled",
    options_type=PhpOptions,
    factory=PhpProfiler,
    max_frequency=PHP_MAX_FREQUENCY,
)
