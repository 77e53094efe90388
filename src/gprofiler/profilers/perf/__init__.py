"""The perf profiler."""
