#!/usr/bin/env python3
"""How much being profiled slows a CPU-bound Java program, with each engine in one run.

Same design as bench_python_slowdown.py: two identical JVMs (benchmarks/targets/Rounds.java) share
one CPU, and phases without the agent alternate with phases where the agent profiles one of them
(`--pids A`, default 11 Hz: perf plus, per cycle, a JFR recording or async-profiler started and
stopped). Prints A/B per state and each engine's slowdown (target <= 1.01 each).
"""

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from workload import ROOT, pair_slowdown


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=4, help="off/on phase pairs")
    parser.add_argument("--seconds", type=float, default=15, help="length of each phase")
    args = parser.parse_args()
    classes = Path(tempfile.mkdtemp(prefix="gprofiler-bench-java-"))
    try:
        source = ROOT / "benchmarks" / "targets" / "Rounds.java"
        subprocess.run(["javac", "-d", str(classes), str(source)], check=True)
        engines = {"JFR": ["--java-mode", "jfr"], "async-profiler": ["--java-mode", "ap"]}
        command = ["java", "-cp", str(classes), "Rounds"]
        return pair_slowdown(command, args.pairs, args.seconds, "Java", engines)
    finally:
        shutil.rmtree(classes, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
