"""Profiler plug-ins. Importing this package registers every profiler (the one explicit list).

Each module registers itself with `registry.register` when imported; `import x as x` marks the
imports as intentional re-exports.
"""

from gprofiler.profilers import java as java
from gprofiler.profilers import nodejs as nodejs
from gprofiler.profilers import perf as perf
from gprofiler.profilers import python as python
