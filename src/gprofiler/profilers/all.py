"""Every profiler the agent has, in one explicit list (imported by the command line and the agent only).

perf is the system profiler: it samples every process, native and kernel stacks, and its per-process
sample counts are the scale runtime profilers' stacks are merged on. Each runtime profiler covers the
processes of one runtime (`discovery.runtimes`) with that runtime's own view of their stacks.
Adding a runtime: a folder next to `python/` with its `SPEC`, and one entry in `RUNTIME` below
(docs/architecture.md, "Adding a runtime profiler").
"""

from typing import Any

from gprofiler.profilers.base import RuntimeProfiler
from gprofiler.profilers.java.profiler import SPEC as JAVA
from gprofiler.profilers.nodejs.profiler import SPEC as NODEJS
from gprofiler.profilers.perf.profiler import SPEC as PERF
from gprofiler.profilers.perf.profiler import PerfOptions, PerfProfiler
from gprofiler.profilers.php.profiler import SPEC as PHP
from gprofiler.profilers.python.profiler import SPEC as PYTHON
from gprofiler.profilers.registry import AnySpec, ProfilerSpec, check_unique
from gprofiler.profilers.ruby.profiler import SPEC as RUBY

SYSTEM: ProfilerSpec[PerfOptions, PerfProfiler] = PERF
RUNTIME: tuple[ProfilerSpec[Any, RuntimeProfiler], ...] = (JAVA, NODEJS, PHP, PYTHON, RUBY)
# The order of the command line's option groups.
ALL: tuple[AnySpec, ...] = tuple(sorted((SYSTEM, *RUNTIME), key=lambda spec: spec.name))
check_unique(ALL)
