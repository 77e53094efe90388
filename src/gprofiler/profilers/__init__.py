"""Profilers: one folder per runtime (`perf/`, `python/`, `java/`, `nodejs/`), the list of them in
`all.py`, what they share in `base.py` and how they declare themselves in `registry.py`.

Importing this package imports no profiler: commands that do not profile stay light.
"""
