#!/usr/bin/env python3
"""How the agent's whole cost grows with the number of processes on the machine.

For each size N (default 10, 100, 500) the machine runs N processes: half idle Python, a tenth busy
Python, two JVMs (one idle, one busy), the rest idle native (`sleep`); with `--mix idle`, one busy
native and one busy Python process and N - 2 idle Python processes (`--sizes 2,102`: 100 idle
Python processes added to 2 busy ones). The agent runs `-c` at the
given cycle length and frequency (defaults: gProfiler's, -d 60 -f 11); its whole cost is its own
CPU plus every tool it started (reaped children from /proc/<agent>/stat, plus the live perf), over
the cycles after the first, per minute. Prints a row per size and the ratios to the smallest.

`--agent-src DIR` runs the agent from another checkout's `src` (e.g. a `git worktree` of an older
commit), so before/after figures come from one machine in one invocation.

Targets (issue 17): 100 idle Python processes added to 2 busy ones cost <= 1.3x; 500 processes
<= 2x the 10-process cost and <= 1 % of one core at the defaults.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workload import ROOT, build_busy, busy_processes, children, cpu_seconds, scratch_dir, wait_for_cycle

IDLE_PYTHON = "import time\nwhile True:\n    time.sleep(3600)\n"
JAVA_SOURCES = (
    ROOT / "tests" / "targets" / "java" / "Busy.java",
    ROOT / "benchmarks" / "targets" / "Idle.java",
)


def java_classes(directory: Path) -> Path | None:
    javac = shutil.which("javac")
    if javac is None:
        return None
    classes = directory / "java"
    classes.mkdir()
    subprocess.run([javac, "-d", str(classes), *map(str, JAVA_SOURCES)], check=True)
    return classes


def workload(size: int, directory: Path, classes: Path | None, mix: str) -> list[list[str]]:
    """`fleet`: half idle Python, a tenth busy Python, two JVMs (one idle), the rest idle native.
    `idle`: one busy native and one busy Python process, and size - 2 idle Python processes."""
    idle_python = directory / "gp_idle_python.py"
    idle_python.write_text(IDLE_PYTHON)
    busy_python = [sys.executable, str(ROOT / "tests" / "targets" / "busy.py"), "100000"]
    idle = ["/usr/bin/python3", "-S", str(idle_python)]
    if mix == "idle":
        return [busy_python, [str(build_busy(directory)), "100000"], *([idle] * (size - 2))]
    commands = [idle for _ in range(size // 2)]
    commands += [busy_python for _ in range(max(1, size // 10))]
    if classes is not None:
        java = ["java", "-Xmx64m", "-cp", str(classes)]
        commands += [[*java, "Busy", "100000"], [*java, "Idle"]]
    commands += [["sleep", "100000"] for _ in range(max(0, size - len(commands)))]
    return commands


@dataclass
class Cost:
    """CPU seconds per minute after the first cycle: the agent's own and its tools'."""

    own: float
    reaped: float  # tools that ended: perf script, py-spy
    live: float  # tools still running at the end: perf record
    perf_script: float  # seconds per cycle, from the agent's log
    profiled: float  # processes given to runtime profilers per cycle, from the agent's log (-1: not logged)

    @property
    def whole(self) -> float:
        return self.own + self.reaped + self.live


_SCRIPT = re.compile(r"INFO: gprofiler.loop: cycle \d+: .*perf script ([0-9.]+)s")
_PROFILED = re.compile(r"runtime profilers on (\d+) processes")  # not logged before issue 17


def measure(size: int, args: argparse.Namespace, directory: Path, classes: Path | None) -> Cost:
    out = directory / f"out-{size}"
    log = directory / f"agent-{size}.log"
    env = dict(os.environ)
    if args.agent_src:
        env["PYTHONPATH"] = str(Path(args.agent_src).resolve())
    command = [sys.executable, "-m", "gprofiler", "-c", "-o", str(out), "--no-flamegraph"]
    command += ["-d", str(args.duration), "-f", str(args.frequency), "--log-file", str(log)]
    command += ["--pid-file", str(directory / "agent.pid"), *args.agent_args.split()]
    with busy_processes(workload(size, directory, classes, args.mix)):
        time.sleep(10)  # started, and old enough that their start-up is history
        agent = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=env)
        try:
            if not wait_for_cycle(agent, log, 1):
                raise SystemExit(1)
            start, before = time.monotonic(), _cpu(agent.pid)
            if not wait_for_cycle(agent, log, 1 + args.cycles):
                raise SystemExit(1)
            after, elapsed = _cpu(agent.pid), time.monotonic() - start
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=60)
    text = log.read_text()
    scripts = [float(seconds) for seconds in _SCRIPT.findall(text)[1:]] or [0.0]
    profiled = [int(count) for count in _PROFILED.findall(text)[1:]] or [-1]
    per_minute = 60 / elapsed
    return Cost(
        (after[0] - before[0]) * per_minute,
        (after[1] - before[1]) * per_minute,
        (after[2] - before[2]) * per_minute,
        sum(scripts) / len(scripts),
        sum(profiled) / len(profiled),
    )


def _cpu(pid: int) -> tuple[float, float, float]:
    """(the agent's own CPU seconds, its reaped children's, its live children's)."""
    own, reaped = cpu_seconds(pid)
    return own, reaped, sum(sum(cpu_seconds(child)) for child in children(pid))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--frequency", type=int, default=11)
    parser.add_argument("--cycles", type=int, default=2, help="measured cycles, after the first")
    parser.add_argument("--mix", choices=("fleet", "idle"), default="fleet")
    parser.add_argument("--agent-src", help="run the agent from this directory (another checkout's src)")
    parser.add_argument(
        "--agent-args", default="", help="more agent arguments, e.g. '--python-mode pyspy' (split on spaces)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the agents' logs and output")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    directory = scratch_dir()
    try:
        classes = java_classes(directory) if args.mix == "fleet" else None
        costs = {}
        print(
            f"{args.mix} mix, -d {args.duration} -f {args.frequency} {args.agent_args}".rstrip()
            + f", {args.cycles} cycles after the first"
        )
        print(
            "processes  CPU s/min  % of a core  agent  tools ended  tools alive  perf script s/cycle"
            "  runtime-profiled"
        )
        for size in sizes:
            cost = costs[size] = measure(size, args, directory, classes)
            print(
                f"{size:9d}  {cost.whole:9.2f}  {100 * cost.whole / 60:11.3f}  {cost.own:5.2f}"
                f"  {cost.reaped:11.2f}  {cost.live:11.2f}  {cost.perf_script:19.2f}  {cost.profiled:16.1f}",
                flush=True,
            )
        base = costs[sizes[0]].whole
        for size in sizes[1:]:
            print(f"ratio {size}/{sizes[0]}: {costs[size].whole / base:.2f}x")
    finally:
        if args.keep:
            print(f"kept: {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
