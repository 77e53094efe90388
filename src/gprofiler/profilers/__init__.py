"""Profiler plug-ins. Importing this package registers every profiler (the one explicit list)."""

from gprofiler.profilers import nodejs as nodejs
from gprofiler.profilers import perf as perf
from gprofiler.profilers import python as python
