"""gprofiler: a continuous, system-wide profiler for Linux."""

__version__ = "0.1.0"
