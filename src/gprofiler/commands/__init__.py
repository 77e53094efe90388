"""Subcommands other than profiling."""
