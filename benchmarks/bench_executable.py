#!/usr/bin/env python3
"""The single-file executable against the agent run from the virtual environment, same invocation.

- size of build/<arch>/gprofiler (target <= 80 MB; gProfiler's is about 300 MB);
- time from exec to perf sampling (the agent's "started perf" log line, timestamped by the agent),
  median of --runs starts (target <= 2 s);
- peak memory of the whole process tree (bootloaders, agent, perf, py-spy) during 3 cycles with
  4 Python processes to profile: sum of RSS, and sum of PSS (shared pages split between sharers),
  sampled every 50 ms.
Build the executable first: ./dev.sh exe.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from workload import busy_processes, children, python_workload, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
EXECUTABLE = ROOT / "build" / os.uname().machine / "gprofiler"
_STARTED = re.compile(r"^\[([0-9-]+ [0-9:,]+)\] INFO: gprofiler\.profilers\.perf\.record: started perf", re.M)


def tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children(current))
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; zeros if it is gone."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = dict(re.findall(r"^(Rss|Pss):\s+(\d+) kB", rollup, re.M))
    return int(values.get("Rss", 0)), int(values.get("Pss", 0))


def start_to_sampling(command: list[str], directory: Path) -> float:
    """Seconds from exec to the agent's "started perf" line (its own clock, millisecond log stamps)."""
    log = directory / "start.log"
    log.unlink(missing_ok=True)
    launched = time.time()
    agent = subprocess.Popen([*command, "-d", "1", "--log-file", str(log)], stderr=subprocess.DEVNULL)
    agent.wait(timeout=120)
    match = _STARTED.search(log.read_text())
    if match is None:
        raise RuntimeError(f"no 'started perf' line in {log}")
    started = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return started - launched


def peak_tree_memory(command: list[str], directory: Path, duration: int, cycles: int) -> tuple[float, float]:
    log = directory / f"peak-{len(list(directory.glob('peak-*.log')))}.log"
    agent = subprocess.Popen(
        [*command, "-c", "-d", str(duration), "--log-file", str(log)], stderr=subprocess.DEVNULL
    )
    peak_rss = peak_pss = 0
    try:
        while f"cycle {cycles}:" not in (log.read_text() if log.exists() else ""):
            if agent.poll() is not None:
                raise RuntimeError(f"the agent exited early; see {log}")
            samples = [memory_kb(pid) for pid in tree(agent.pid)]
            peak_rss = max(peak_rss, sum(rss for rss, _ in samples))
            peak_pss = max(peak_pss, sum(pss for _, pss in samples))
            time.sleep(0.05)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    return peak_rss / 1024, peak_pss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--python", type=int, default=4, help="Python processes to profile")
    args = parser.parse_args(argv)
    if not EXECUTABLE.exists():
        print(f"{EXECUTABLE} is missing: run ./dev.sh exe first")
        return 1

    directory = scratch_dir()
    variants = {
        "executable": [str(EXECUTABLE), "-o", str(directory / "out-exe")],
        "venv": [sys.executable, "-m", "gprofiler", "-o", str(directory / "out-venv")],
    }
    size_mb = EXECUTABLE.stat().st_size / 2**20
    print(f"executable size: {size_mb:.1f} MB (target <= 80 MB; gProfiler's is about 300 MB)")
    starts = {
        name: [start_to_sampling(command, directory) for _ in range(args.runs)]
        for name, command in variants.items()
    }
    for name, times in starts.items():
        print(
            f"{name}: exec to perf sampling, median of {args.runs}: {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f})"
        )
    ratio = statistics.median(starts["executable"]) / statistics.median(starts["venv"])
    print(f"start-up ratio executable/venv: {ratio:.2f}x (target: executable <= 2 s)")
    try:
        with busy_processes(python_workload(args.python)):
            peaks = {
                name: peak_tree_memory(command, directory, args.duration, args.cycles)
                for name, command in variants.items()
            }
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    for name, (rss, pss) in peaks.items():
        print(
            f"{name}: peak process-tree memory over {args.cycles} cycles with {args.python} Python targets: "
            f"RSS {rss:.1f} MB, PSS {pss:.1f} MB"
        )
    print(
        f"memory ratio executable/venv: RSS {peaks['executable'][0] / peaks['venv'][0]:.2f}x, "
        f"PSS {peaks['executable'][1] / peaks['venv'][1]:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
