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
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from workload import scratch_dir, wait_for_cycle

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


class Worker:
    """A Python process doing rounds of work; collects (end time, CPU seconds) per round."""

    def __init__(self, cpu: int) -> None:
        command = ["taskset", "-c", str(cpu), "/usr/bin/python3", "-c", WORK]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.rounds: list[tuple[float, float]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            end, cpu = line.split()
            self.rounds.append((float(end), float(cpu)))

    def median_between(self, start: float, end: float) -> float:
        return statistics.median(cpu for t, cpu in self.rounds if start <= t - cpu and t <= end)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def _agent(directory: Path, pid: int) -> subprocess.Popen[bytes]:
    command = ["taskset", "-c", "0", sys.executable, "-m", "gprofiler", "-c", "-d", "5", "--pids", str(pid)]
    command += ["-o", str(directory / "out"), "--log-file", str(directory / "agent.log")]
    command += ["--pid-file", str(directory / "agent.pid")]
    return subprocess.Popen(command, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=4, help="off/on phase pairs")
    parser.add_argument("--seconds", type=float, default=15, help="length of each phase")
    args = parser.parse_args()
    directory = scratch_dir()
    last_cpu = (os.cpu_count() or 1) - 1
    a, b = Worker(last_cpu), Worker(last_cpu)
    ratios: dict[bool, list[float]] = {False: [], True: []}
    try:
        time.sleep(2)
        for _ in range(args.pairs):
            for profiled in (False, True):
                agent = _agent(directory, a.process.pid) if profiled else None
                if agent is not None:
                    time.sleep(1.5)  # started, py-spy attached to A
                start = time.monotonic()
                time.sleep(args.seconds)
                end = time.monotonic()
                ratios[profiled].append(a.median_between(start, end) / b.median_between(start, end))
                if agent is not None:
                    covered = wait_for_cycle(agent, directory / "agent.log", 1)
                    agent.send_signal(signal.SIGTERM)
                    agent.wait(timeout=30)
                    if not covered:
                        return 1
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(directory, ignore_errors=True)
    off, on = statistics.median(ratios[False]), statistics.median(ratios[True])
    print(f"{args.pairs} off/on pairs of {args.seconds:.0f} s; CPU time per round of A over B")
    print(f"off (no agent)     median {off:.4f}  range {min(ratios[False]):.4f}..{max(ratios[False]):.4f}")
    print(f"on  (A profiled)   median {on:.4f}  range {min(ratios[True]):.4f}..{max(ratios[True]):.4f}")
    noise = (max(ratios[False]) - min(ratios[False])) / off / 2
    print(f"slowdown of the profiled worker  {on / off:.4f}x  (target <= 1.01; noise here +-{noise:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
