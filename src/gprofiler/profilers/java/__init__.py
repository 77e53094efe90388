"""The java profiler."""
