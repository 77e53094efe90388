#!/usr/bin/env python3
"""The agent's own cost: CPU of its Python process per profiled second, perf's CPU, and peak RSS.

Runs `gprofiler -c -d 5` for 20 cycles on a machine kept busy by 10 processes (or, with
`--python N`, by N Python processes that each get a py-spy), then reads
/proc/<agent>/stat just before stopping it: the agent's own user+system time, and separately the time
of its children (every `perf script` it reaped, plus the live `perf record`). Baselines from the same
run: a bare interpreter that only imports the agent (the RSS floor), and perf's CPU (the tool's floor).
Targets: agent Python <= 0.5 % of one core at 11 Hz; peak RSS <= 60 MB.
"""

import argparse
import shutil
import signal
import subprocess
import sys
import time

from workload import (
    build_busy,
    busy_processes,
    children,
    cpu_seconds,
    mixed_workload,
    peak_rss_mb,
    python_workload,
    scratch_dir,
    wait_for_cycle,
)


def import_only_rss() -> float:
    """Peak RSS of an interpreter that imports the agent and does nothing else."""
    code = (
        "import gprofiler.agent, gprofiler.cli, pathlib; print(pathlib.Path('/proc/self/status').read_text())"
    )
    status = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--frequency", type=int, default=11)
    parser.add_argument("--busy", type=int, default=10, help="busy processes to keep the machine loaded")
    parser.add_argument(
        "--python", type=int, default=0, help="run this many Python processes instead (py-spy on each)"
    )
    args = parser.parse_args(argv)

    directory = scratch_dir()
    try:
        busy = build_busy(directory)
        out = directory / "out"
        command = [sys.executable, "-m", "gprofiler", "-c", "-o", str(out), "-d", str(args.duration)]
        command += ["-f", str(args.frequency), "--log-file", str(directory / "agent.log")]
        command += ["--pid-file", str(directory / "agent.pid")]
        workload = python_workload(args.python) if args.python else mixed_workload(busy, args.busy)
        with busy_processes(workload):
            agent = subprocess.Popen(command, stderr=subprocess.DEVNULL)
            started = time.monotonic()
            log = directory / "agent.log"
            if not wait_for_cycle(agent, log, 1):
                return 1
            first_cycle_at, (own_at_first, _) = time.monotonic(), cpu_seconds(agent.pid)
            if not wait_for_cycle(agent, log, args.cycles):
                return 1
            profiled = time.monotonic() - started
            steady_seconds = time.monotonic() - first_cycle_at
            own, reaped = cpu_seconds(agent.pid)
            live_perf = sum(cpu_seconds(pid)[0] for pid in children(agent.pid))
            rss = peak_rss_mb(agent.pid)
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)

        perf = reaped + live_perf
        floor_rss = import_only_rss()
        load = f"{args.python} Python processes" if args.python else f"{args.busy} busy processes"
        print(f"{args.cycles} cycles of {args.duration}s at {args.frequency} Hz, {load}")
        print(f"profiled wall time                    {profiled:8.1f} s")
        print(
            f"agent Python process CPU              {own:8.2f} s   {100 * own / profiled:6.3f} % of one core"
        )
        steady = own - own_at_first
        print(
            f"  after its first cycle (steady)      {steady:8.2f} s   {100 * steady / steady_seconds:6.3f} % "
            f"of one core over {steady_seconds:.0f} s (target <= 0.5 %)"
        )
        print(f"  per cycle                           {steady / max(1, args.cycles - 1):8.3f} s")
        share = 100 * perf / profiled
        tools = "perf + py-spy" if args.python else "perf (record + script)"
        print(f"{tools + ' CPU':<38}{perf:8.2f} s   {share:6.3f} % of one core")
        print(f"  per cycle                           {perf / args.cycles:8.3f} s")
        print(f"agent / perf CPU                      {own / perf if perf else float('nan'):8.2f}x")
        print(f"agent peak RSS                        {rss:8.1f} MB  (target <= 60 MB)")
        print(f"interpreter + imports only (floor)    {floor_rss:8.1f} MB  ratio {rss / floor_rss:.2f}x")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
