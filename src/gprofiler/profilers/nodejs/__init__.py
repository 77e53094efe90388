"""The nodejs profiler."""
