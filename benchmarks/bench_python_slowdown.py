#!/usr/bin/env python3
"""How much being profiled slows a CPU-bound Python program, measured in the same run.

A single process's speed swings by tens of percent from one second to the next on a shared VM, so
two identical workers share one CPU (pinned to the last one, the agent to the first) and are compared
with each other: whatever the CPU does, it does to both. Each reports the CPU time of every round of
fixed pure-Python work. Phases alternate:
  off: no agent                                  -> ratio A/B
  on:  agent `-c -d 5 --pids A` (default 11 Hz)  -> ratio A/B with A sampled by perf and py-spy
slowdown = median(on ratios) / median(off ratios); the spread of the off ratios is the noise floor
of this machine, printed alongside (target <= 1.01). The agent's own CPU competes with both
workers alike and is measured by bench_agent_overhead.py instead.
"""

import argparse

from workload import pair_slowdown

WORK = r"""
import time
def work():
    total = 0
    for i in range(5_000_000):
        total += i % 7
    return total
while True:
    cpu = time.process_time()
    work()
    print(time.monotonic(), time.process_time() - cpu, flush=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=4, help="off/on phase pairs")
    parser.add_argument("--seconds", type=float, default=15, help="length of each phase")
    args = parser.parse_args()
    return pair_slowdown(["/usr/bin/python3", "-c", WORK], args.pairs, args.seconds, "Python")


if __name__ == "__main__":
    raise SystemExit(main())
