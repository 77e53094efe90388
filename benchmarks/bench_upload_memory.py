#!/usr/bin/env python3
"""Whether uploading makes the agent grow: its RSS early and after --cycles upload cycles.

The agent runs `-c -d 1 -u` against tests/recording_server.py on loopback (real HTTP, gzip, JSON,
the spool on disk) with a few busy processes to profile; its own RSS (VmRSS of the Python process)
is read after cycle 10 and after the last one. Baseline in the same run: the same agent writing
local files only. A leak of even 1 KB per cycle would show as 0.2 MB over 200 cycles.
"""

import argparse
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


def run(command: list[str], log: Path, cycles: int) -> tuple[float, float]:
    agent = subprocess.Popen([*command, "--log-file", str(log)], stderr=subprocess.DEVNULL)
    try:
        if not wait_for_cycle(agent, log, 10):
            raise RuntimeError(f"agent exited; see {log}")
        early = rss_mb(agent.pid)
        if not wait_for_cycle(agent, log, cycles):
            raise RuntimeError(f"agent exited; see {log}")
        return early, rss_mb(agent.pid)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args(argv)
    directory = scratch_dir()
    server = RecordingServer().start()
    base = [sys.executable, "-m", "gprofiler", "-c", "-d", "1", "--no-flamegraph"]
    upload = ["-u", "--token", "t", "--service-name", "bench", "--server-host", server.url]
    upload += ["--spool-dir", str(directory / "spool")]
    with busy_processes(mixed_workload(build_busy(directory), 4)):
        uploading = run([*base, *upload], directory / "upload.log", args.cycles)
        local = run([*base, "-o", str(directory / "out")], directory / "local.log", args.cycles)
    server.stop()
    print(f"uploaded profiles: {len(server.profiles)}, log batches: {len(server.logs)}")
    for name, (early, late) in (("upload", uploading), ("local files (baseline)", local)):
        print(
            f"{name}: RSS after cycle 10 {early:.1f} MB, after cycle {args.cycles} {late:.1f} MB "
            f"(growth {late - early:+.1f} MB, {(late - early) * 1024 / (args.cycles - 10):+.2f} KB/cycle)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
