"""Profiler plug-ins. Importing this package registers every profiler (the one explicit list)."""

from gprofiler.profilers import perf as perf
