#!/usr/bin/env python3
"""Whether uploading makes the agent grow: its RSS early and after --cycles upload cycles.

The agent runs `-c -d 1 -u` against tests/recording_server.py on loopback (real HTTP, gzip, JSON,
the spool on disk) with a few busy processes to profile; its own RSS (VmRSS of the Python process)
is read after cycle 10 and after the last one. Baseline in the same run: the same agent writing
local files only. A leak of even 1 KB per cycle would show as 0.2 MB over 200 cycles.
"""

import argparse
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from workload import build_busy, busy_processes, mixed_workload, scratch_dir, wait_for_cycle

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.recording_server import RecordingServer


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(command: list[str], log: Path, checkpoints: list[int]) -> list[float]:
    """The agent's RSS after each checkpoint cycle."""
    agent = subprocess.Popen([*command, "--log-file", str(log)], stderr=subprocess.DEVNULL)
    readings = []
    try:
        for cycle in checkpoints:
            if not wait_for_cycle(agent, log, cycle):
                raise RuntimeError(f"agent exited; see {log}")
            readings.append(rss_mb(agent.pid))
        return readings
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args(argv)
    checkpoints = sorted({10, *range(50, args.cycles, 50), args.cycles})
    directory = scratch_dir()
    server = RecordingServer().start()
    base = [sys.executable, "-m", "gprofiler", "-c", "-d", "1", "--no-flamegraph"]
    upload = ["-u", "--token", "t", "--service-name", "bench", "--server-host", server.url]
    upload += ["--spool-dir", str(directory / "spool")]
    try:
        with busy_processes(mixed_workload(build_busy(directory), 4)):
            uploading = run([*base, *upload], directory / "upload.log", checkpoints)
            local = run([*base, "-o", str(directory / "out")], directory / "local.log", checkpoints)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    print(f"uploaded profiles: {len(server.profiles)}, log batches: {len(server.logs)}")
    print("RSS (MB) after cycle " + ", ".join(map(str, checkpoints)))
    for name, readings in (("upload", uploading), ("local files (baseline)", local)):
        growth = readings[-1] - readings[0]
        per_cycle = growth * 1024 / (checkpoints[-1] - checkpoints[0])
        print(
            f"{name}: {', '.join(f'{value:.1f}' for value in readings)} "
            f"(growth {growth:+.1f} MB from cycle 10, {per_cycle:+.2f} KB/cycle)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
