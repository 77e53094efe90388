"""The python profiler."""
