#!/usr/bin/env python3
"""What profiling costs a busy PHP and a busy Ruby process, and what a PHP sample costs the agent.

1. Slowdown (same design as bench_python_slowdown.py): two identical workers share one CPU; phases
   without the agent alternate with phases where the agent profiles worker A at the default rate
   (11 Hz, `--pids A`): PHP with the agent's sampler (`--php-mode phpspy`), Ruby with rbspy.
   Prints A/B per state and the slowdown (target <= 1.01).
2. The PHP sampler's own cost: samples of a busy php (benchmarks/../tests/targets/php/shapes.php,
   3-4 frames) and of a 700-deep recursion, taken back to back by the agent's reader: CPU per sample,
   reads (system calls) per sample, torn samples; and the CPU a 60 s cycle at 11 Hz costs per process.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import ROOT, pair_slowdown

PHP_WORK = r"""
function work(): int {
    $total = 0;
    for ($i = 0; $i < 3000000; $i++) { $total += $i % 7; }
    return $total;
}
function cpu(): float {
    $usage = getrusage();
    return $usage['ru_utime.tv_sec'] + $usage['ru_utime.tv_usec'] / 1e6
        + $usage['ru_stime.tv_sec'] + $usage['ru_stime.tv_usec'] / 1e6;
}
while (true) {
    $before = cpu();
    work();
    printf("%.6f %.6f\n", hrtime(true) / 1e9, cpu() - $before);
    fflush(STDOUT);
}
"""

RUBY_WORK = r"""
def work
  total = 0
  i = 0
  while i < 3_000_000
    total += i % 7
    i += 1
  end
  total
end
$stdout.sync = true
loop do
  cpu = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
  work
  used = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - cpu
  puts format("%.6f %.6f", Process.clock_gettime(Process::CLOCK_MONOTONIC), used)
end
"""


def sampler_cost(seconds: float) -> None:
    """The PHP reader's cost per sample on a shallow and a deep stack, back to back."""
    sys.path.insert(0, str(ROOT / "src"))
    import threading

    from gprofiler.discovery.catalog import ProcessCatalog
    from gprofiler.profilers.base import ProfilerContext
    from gprofiler.profilers.php.profiler import PhpOptions, PhpProfiler
    from gprofiler.profilers.php.remote import PhpStackReader, TornSampleError
    from gprofiler.profilers.remote_memory import ProcessMemory, RemoteReadError

    targets = ROOT / "tests" / "targets" / "php"
    scratch = Path(tempfile.mkdtemp(prefix="gprofiler-bench-php-"))
    odd = scratch / "included.php"
    odd.write_text("<?php\ngp_ünïcode_名前();\n")
    shapes = {
        "shapes.php (3-4 frames)": ["php", str(targets / "shapes.php"), "/dev/null", "600"],
        "hostile.php (700-deep half the time)": ["php", str(targets / "hostile.php"), "600", str(odd)],
    }
    print(f"PHP sampler, {seconds:.0f} s of samples back to back per target")
    try:
        for label, command in shapes.items():
            target = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            try:
                time.sleep(1)
                process = ProcessCatalog().lookup(target.pid)
                assert process is not None
                context = ProfilerContext(11, 60, threading.Event(), scratch, Path("/proc"))
                runtime = PhpProfiler(context, "phpspy", PhpOptions(proc_filter="."))._find(process)
                assert runtime is not None and not isinstance(runtime, str), runtime
                reader = PhpStackReader(ProcessMemory(Path("/proc"), target.pid), runtime)
                costs: dict[str, list[int]] = {"shallow": [], "deep (>= 100 frames)": []}
                torn = failed = calls = 0
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    start, reads = time.thread_time_ns(), reader.memory.calls
                    try:
                        depth = len(reader.stack())
                    except TornSampleError:
                        torn += 1
                        continue
                    except RemoteReadError:
                        failed += 1
                        continue
                    costs["deep (>= 100 frames)" if depth >= 100 else "shallow"].append(
                        time.thread_time_ns() - start
                    )
                    calls += reader.memory.calls - reads
                taken = sum(len(values) for values in costs.values())
                attempts = taken + torn + failed
                print(
                    f"  {label}: {taken} samples, torn {torn / attempts:.1%}, "
                    f"failed {failed / attempts:.1%}, {calls / taken:.1f} reads per sample"
                )
                for kind, values in costs.items():
                    if values:
                        per_sample = statistics.median(values) / 1e9
                        print(
                            f"    {kind:<22} median {per_sample * 1e6:7.1f} us CPU per sample; "
                            f"a 60 s cycle at 11 Hz: {per_sample * 660 * 1e3:.0f} ms CPU"
                        )
                reader.memory.close()
            finally:
                target.kill()
                target.wait()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=4, help="off/on phase pairs")
    parser.add_argument("--seconds", type=float, default=15, help="length of each phase")
    parser.add_argument("--sampler-seconds", type=float, default=5, help="back-to-back samples per target")
    args = parser.parse_args()
    sampler_cost(args.sampler_seconds)
    php = {"PHP sampler": ["--php-mode", "phpspy", "--php-proc-filter", "."]}
    code = pair_slowdown(["php", "-r", PHP_WORK], args.pairs, args.seconds, "PHP", php)
    return code or pair_slowdown(["ruby", "-e", RUBY_WORK], args.pairs, args.seconds, "Ruby", {"rbspy": []})


if __name__ == "__main__":
    raise SystemExit(main())
