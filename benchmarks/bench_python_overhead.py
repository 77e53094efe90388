#!/usr/bin/env python3
"""Agent overhead with 20 Python processes: bench_agent_overhead.py --python 20 (see there)."""

import sys

from bench_agent_overhead import main

if __name__ == "__main__":
    raise SystemExit(main(["--python", "20", *sys.argv[1:]]))
