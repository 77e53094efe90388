"""Choosing runtime targets by the CPU they used: the tracker on real processes, the ranking on numbers."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gprofiler.discovery.catalog import DiscoveredProcess, ProcessCatalog
from gprofiler.discovery.cpu import CLOCK_TICKS, CpuTracker, choose_busiest, idle_threshold, uptime_ticks
from gprofiler.discovery.procfs import ProcessInfo


def _process(pid: int, start: int = 0) -> DiscoveredProcess:
    info = ProcessInfo(
        pid=pid, nspid=pid, comm="p", exe="/usr/bin/p", cmdline=("p",), start_time=start, uid=0
    )
    return DiscoveredProcess(info, "python", None)


def test_threshold_is_one_sample_interval() -> None:
    assert idle_threshold(11) == pytest.approx(CLOCK_TICKS / 11)
    assert idle_threshold(100) == pytest.approx(CLOCK_TICKS / 100)


def test_usage_is_the_delta_since_the_last_scan_scaled_to_a_cycle() -> None:
    tracker = CpuTracker(cycle_seconds=10)
    busy, idle, late = _process(1, start=0), _process(2, start=0), _process(3, start=9_000)
    # first sight: the average since start, over one cycle (10 s = 1,000 ticks at 100 Hz)
    first = tracker.usage([busy, idle], {1: 5_000, 2: 100}, uptime=10_000)
    assert first[1] == pytest.approx(5_000 * 10 * CLOCK_TICKS / 10_000)
    assert first[2] == pytest.approx(100 * 10 * CLOCK_TICKS / 10_000)
    # then: what was used since, over the time since (here exactly one cycle)
    cycle = 10 * CLOCK_TICKS
    second = tracker.usage([busy, idle, late], {1: 5_000 + cycle // 2, 2: 100, 3: 50}, uptime=10_000 + cycle)
    assert second[1] == pytest.approx(cycle / 2)
    assert second[2] == 0
    assert second[3] == pytest.approx(50 * cycle / (10_000 + cycle - 9_000))  # new: since its start
    # a PID reused by another process (another start time) is a new process
    reused = _process(1, start=10_500)
    third = tracker.usage([reused], {1: 10}, uptime=11_000 + cycle)
    assert third[1] == pytest.approx(10 * cycle / (11_000 + cycle - 10_500))


def test_busiest_first_idle_left_out_then_the_cap() -> None:
    processes = [_process(pid) for pid in range(1, 8)]
    used = {1: 0.0, 2: 50.0, 3: 9.0, 4: 400.0, 5: 8.9, 6: 50.0, 7: 120.0}
    selection = choose_busiest(processes, used, min_ticks=9.0, cap=3)
    assert [p.pid for p in selection.chosen] == [4, 7, 2]  # ties by PID
    assert (selection.idle, selection.over_cap) == (2, 2)
    everyone = choose_busiest(processes, used, min_ticks=0.0, cap=None)
    assert [p.pid for p in everyone.chosen] == [4, 7, 2, 6, 3, 5, 1]
    assert (everyone.idle, everyone.over_cap) == (0, 0)
    assert choose_busiest(processes, {}, min_ticks=1.0, cap=None).idle == 7  # no figure: idle


def _grandchild(code: str) -> tuple[subprocess.Popen[bytes], int]:
    """A Python process whose parent is a shell, not this test (the catalog leaves out the agent's
    own children, which this test process stands in for)."""
    shell = subprocess.Popen(
        ["sh", "-c", f'{sys.executable} -c "{code}" & echo $!; wait'],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert shell.stdout is not None
    return shell, int(shell.stdout.readline())


@pytest.fixture
def busy_and_idle() -> Iterator[tuple[int, int]]:
    busy, busy_pid = _grandchild("while True: pass")
    idle, idle_pid = _grandchild("import time; time.sleep(60)")
    try:
        time.sleep(1.5)
        yield busy_pid, idle_pid
    finally:
        for shell in (busy, idle):
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()


def test_a_spinning_process_is_chosen_and_a_sleeping_one_is_not(busy_and_idle: tuple[int, int]) -> None:
    busy_pid, idle_pid = busy_and_idle
    catalog = ProcessCatalog(Path("/proc"), appids=False)
    tracker = CpuTracker(cycle_seconds=1)
    processes = catalog.scan([busy_pid, idle_pid])
    tracker.usage(processes.values(), catalog.cpu_ticks, uptime_ticks(Path("/proc")))
    time.sleep(1.0)
    processes = catalog.scan([busy_pid, idle_pid])
    used = tracker.usage(processes.values(), catalog.cpu_ticks, uptime_ticks(Path("/proc")))
    assert used[busy_pid] > 0.5 * CLOCK_TICKS  # spinning: most of a core for the second
    assert used[idle_pid] < idle_threshold(11)
    chosen = choose_busiest(processes.values(), used, idle_threshold(11), cap=None).chosen
    assert [p.pid for p in chosen] == [busy_pid]
