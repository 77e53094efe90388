"""Shared by the benchmarks: build and run CPU-bound target programs, read /proc counters."""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Deep Python stacks exercise the parser the way a real interpreter-heavy host does.
PYTHON_WORKLOAD = """
import sys
sys.setrecursionlimit(10000)
def depth(n):
    return depth(n - 1) if n else sum(i * i for i in range(20000))
while True:
    depth(60)
"""


def build_busy(directory: Path) -> Path:
    """tests/targets/busy.c with frame pointers (see tests/integration/conftest.py for -O0)."""
    binary = directory / "gp_bench_busy"
    subprocess.run(
        [
            "gcc",
            "-O0",
            "-fno-omit-frame-pointer",
            "-o",
            str(binary),
            str(ROOT / "tests" / "targets" / "busy.c"),
        ],
        check=True,
    )
    return binary


@contextmanager
def busy_processes(commands: list[list[str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start every command, yield, then kill them all (whole process groups)."""
    processes = [
        subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        for command in commands
    ]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def mixed_workload(busy: Path, count: int) -> list[list[str]]:
    """`count` busy processes: C loops, deep Python recursion and a syscall-heavy dd."""
    commands: list[list[str]] = [["dd", "if=/dev/zero", "of=/dev/null", "bs=1"]]
    commands.append([sys.executable, "-c", PYTHON_WORKLOAD])
    while len(commands) < count:
        commands.append([str(busy), "100000"])
    return commands


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own user+system seconds, user+system seconds of reaped children) from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime) / CLOCK_TICKS, (cutime + cstime) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scratch_dir() -> Path:
    """A private directory on disk (not tmpfs), for large perf files."""
    return Path(tempfile.mkdtemp(prefix="gprofiler-bench-", dir="/var/tmp"))


def children(pid: int) -> list[int]:
    """PIDs of the live direct children of a process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_for_cycle(agent: "subprocess.Popen[bytes]", log: Path, cycle: int) -> bool:
    """Wait for the agent's INFO line of `cycle`; False if the agent exited first."""
    while f"cycle {cycle}:" not in (log.read_text() if log.exists() else ""):
        if agent.poll() is not None:
            print("the agent exited early; see", log)
            return False
        time.sleep(0.05)
    return True


def python_workload(count: int, seconds: int = 100_000) -> list[list[str]]:
    """`count` CPU-bound Python processes (tests/targets/busy.py)."""
    return [
        ["/usr/bin/python3", str(ROOT / "tests" / "targets" / "busy.py"), str(seconds)] for _ in range(count)
    ]


class RoundsWorker:
    """A program doing rounds of fixed work, printing "<monotonic s> <CPU s>" after each round."""

    def __init__(self, command: list[str], cpu: int) -> None:
        self.process = subprocess.Popen(
            ["taskset", "-c", str(cpu), *command], stdout=subprocess.PIPE, text=True
        )
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


def pair_slowdown(
    command: list[str], pairs: int, seconds: float, label: str, variants: dict[str, list[str]] | None = None
) -> int:
    """Two identical workers share the last CPU; phases alternate between no agent and the agent
    (`-c -d 5 --pids A`, on CPU 0, plus each variant's arguments) profiling worker A. Prints A/B per
    state and each variant's slowdown, all from one run."""
    variants = variants if variants is not None else {"A profiled": []}
    directory = scratch_dir()
    last_cpu = (os.cpu_count() or 1) - 1
    a, b = RoundsWorker(command, last_cpu), RoundsWorker(command, last_cpu)
    states: list[str | None] = [None, *variants]
    ratios: dict[str | None, list[float]] = {state: [] for state in states}
    try:
        time.sleep(4)  # warmed up, and old enough for the agent to attach to
        for _ in range(pairs):
            for state in states:
                agent = None
                if state is not None:
                    log = directory / "agent.log"
                    log.unlink(missing_ok=True)
                    agent_command = ["taskset", "-c", "0", sys.executable, "-m", "gprofiler", "-c", "-d", "5"]
                    agent_command += ["--pids", str(a.process.pid), "-o", str(directory / "out")]
                    agent_command += ["--log-file", str(log), "--pid-file", str(directory / "agent.pid")]
                    agent = subprocess.Popen([*agent_command, *variants[state]], stderr=subprocess.DEVNULL)
                    time.sleep(2)  # started; the runtime profiler attached to A
                start = time.monotonic()
                time.sleep(seconds)
                end = time.monotonic()
                ratios[state].append(a.median_between(start, end) / b.median_between(start, end))
                if agent is not None:
                    covered = wait_for_cycle(agent, directory / "agent.log", 1)
                    agent.send_signal(signal.SIGTERM)
                    agent.wait(timeout=60)
                    if not covered:
                        return 1
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(directory, ignore_errors=True)
    off = statistics.median(ratios[None])
    print(f"{label}: {pairs} rounds of {seconds:.0f} s phases; CPU time per round of A over B")
    print(f"{'no agent':<18} median {off:.4f}  range {min(ratios[None]):.4f}..{max(ratios[None]):.4f}")
    for state in variants:
        on = statistics.median(ratios[state])
        print(f"{state:<18} median {on:.4f}  range {min(ratios[state]):.4f}..{max(ratios[state]):.4f}")
    noise = (max(ratios[None]) - min(ratios[None])) / off / 2
    for state in variants:
        slowdown = statistics.median(ratios[state]) / off
        print(f"slowdown of the worker, {state}: {slowdown:.4f}x (target <= 1.01, noise +-{noise:.1%})")
    return 0
