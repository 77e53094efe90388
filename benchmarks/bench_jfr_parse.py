#!/usr/bin/env python3
"""Throughput of the pure-Python JFR reader on a ~50 MB recording.

Records execution samples from a JVM with many threads and deep stacks (Deep.java) for a few
seconds, then repeats its chunks into one ~50 MB file (a JFR file is a sequence of self-contained
chunks, as `jfr assemble` makes), and times `read_samples` over it against `jfr summary` (the JDK's
own reader, scanning the same file) in the same run.
"""

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from gprofiler.profilers.java.jfr_reader import read_samples
from gprofiler.profilers.java.jfr_session import jfc_settings
from workload import ROOT


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=50)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="gprofiler-bench-jfr-", dir="/var/tmp"))
    try:
        subprocess.run(
            ["javac", "-d", str(directory), str(ROOT / "tests" / "targets" / "java" / "Deep.java")],
            check=True,
        )
        settings = directory / "sampling.jfc"
        settings.write_text(jfc_settings(10))
        one = directory / "one.jfr"
        flight = f"-XX:StartFlightRecording=settings={settings},filename={one},duration=8s"
        subprocess.run(
            ["java", flight, "-cp", str(directory), "Deep", "9", "32", "40"], check=True, capture_output=True
        )
        chunk = one.read_bytes()
        copies = max(1, (args.megabytes << 20) // len(chunk))
        big = directory / "big.jfr"
        big.write_bytes(chunk * copies)
        size_mb = big.stat().st_size / 1e6
        started = time.perf_counter()
        samples = read_samples(big.read_bytes())
        ours = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run(["jfr", "summary", str(big)], check=True, capture_output=True)
        theirs = time.perf_counter() - started
        events = samples.total("jdk.ExecutionSample") + samples.total("jdk.NativeMethodSample")
        chunk_mb = len(chunk) / 1e6
        print(f"{size_mb:.1f} MB in {samples.chunks} chunks ({chunk_mb:.2f} MB each), {events:,} samples")
        rate = f"{size_mb / ours:6.1f} MB/s   {events / ours:,.0f} samples/s"
        print(f"gprofiler read_samples   {ours:6.2f} s   {rate}")
        ratio = ours / theirs
        print(f"jfr summary (the JDK)    {theirs:6.2f} s   {size_mb / theirs:6.1f} MB/s   ({ratio:.2f}x)")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
