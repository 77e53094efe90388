#!/usr/bin/env python3
"""perf-collapse throughput against perf's own decoding, measured in the same run.

Records a perf.data file from a busy machine at a high frequency (large enough for >= 100 MB of
`perf script` text), then times, best of N:
  floor    `perf script -i FILE > /dev/null`           (perf's decoding with its default fields)
  agent    `perf script -F comm,pid,tid,ip,sym,dso --no-inline -i FILE > /dev/null`
           (what perf-collapse asks perf for: the real floor of the pipeline)
  collapse `gprofiler perf-collapse FILE > /dev/null`  (perf script + the streaming parser)
  parse    `gprofiler perf-collapse - < text`           (the parser alone, on saved default text)
and prints the ratios. Target: collapse / floor <= 1.3.
"""

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from workload import build_busy, busy_processes, mixed_workload, scratch_dir

GPROFILER = [sys.executable, "-m", "gprofiler"]


def timed(command: list[str], stdin: Path | None = None) -> float:
    started = time.perf_counter()
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as source:
        subprocess.run(
            command, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
    return time.perf_counter() - started


def best_of(runs: int, command: list[str], stdin: Path | None = None) -> float:
    return min(timed(command, stdin) for _ in range(runs))


def record(directory: Path, seconds: float, frequency: int) -> Path:
    data = directory / "perf.data"
    busy = build_busy(directory)
    with busy_processes(mixed_workload(busy, 4)):
        subprocess.run(
            [
                "perf",
                "record",
                "-F",
                str(frequency),
                "-g",
                "-a",
                "-o",
                str(data),
                "--",
                "sleep",
                str(seconds),
            ],
            check=True,
            capture_output=True,
        )
    return data


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="recording length")
    parser.add_argument("--frequency", type=int, default=4999, help="sampling frequency (Hz)")
    parser.add_argument("--runs", type=int, default=3, help="timings per command (best is kept)")
    args = parser.parse_args()

    directory = scratch_dir()
    try:
        data = record(directory, args.seconds, args.frequency)
        text = directory / "script.txt"
        with open(text, "wb") as out:
            subprocess.run(
                ["perf", "script", "-i", str(data)], stdout=out, stderr=subprocess.DEVNULL, check=True
            )
        text_mb = text.stat().st_size / 1e6
        samples = text.read_bytes().count(b"\n\n")
        print(
            f"perf.data: {data.stat().st_size / 1e6:.1f} MB, {samples:,} samples, "
            f"{text_mb:.1f} MB of perf script text"
        )
        if text_mb < 100:
            print("  (below 100 MB of text: raise --seconds or --frequency for the full-size run)")

        floor = best_of(args.runs, ["perf", "script", "-i", str(data)])
        agent_floor = best_of(
            args.runs, ["perf", "script", "-F", "comm,pid,tid,ip,sym,dso", "--no-inline", "-i", str(data)]
        )
        collapse = best_of(args.runs, [*GPROFILER, "perf-collapse", str(data)])
        parse = best_of(args.runs, [*GPROFILER, "perf-collapse", "-"], stdin=text)

        print(f"perf script (default fields)       {floor:7.2f} s   1.00x  <- floor")
        print(f"perf script (agent's fields)        {agent_floor:7.2f} s   {agent_floor / floor:.2f}x")
        print(
            f"gprofiler perf-collapse FILE        {collapse:7.2f} s   {collapse / floor:.2f}x"
            "  (target <= 1.30x)"
        )
        print(f"  vs the agent's own perf script:              {collapse / agent_floor:.2f}x")
        print(
            f"gprofiler perf-collapse - (parse)   {parse:7.2f} s   {parse / floor:.2f}x  "
            f"({text_mb / parse:.0f} MB/s, {samples / parse:,.0f} samples/s)"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
