"""The agent's cost follows the CPU used, not the number of processes: idle Python processes keep
perf's stacks and get no py-spy; the busy one is profiled every cycle."""

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.integration.conftest import PYTHON, TARGETS, AgentFiles, parse_profile, running, wait_for

IDLE_PROCESSES = 100
_CYCLE = re.compile(r"runtime profilers on (\d+) processes, (\d+) idle and (\d+) over the caps")


@contextmanager
def idle_pythons(script: Path, count: int) -> Iterator[list[int]]:
    """`count` Python processes that sleep (each started by a shell, as services are)."""
    script.write_text("import time\nwhile True:\n    time.sleep(3600)\n")
    processes = [
        subprocess.Popen([PYTHON, "-S", str(script)], start_new_session=True, stdout=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        yield [process.pid for process in processes]
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_only_the_busy_python_process_gets_pyspy(agent: AgentFiles, tmp_path: Path) -> None:
    busy = tmp_path / "gp_busy_among_idle.py"
    shutil.copy(TARGETS / "busy.py", busy)
    with idle_pythons(tmp_path / "gp_idle_service.py", IDLE_PROCESSES), running(PYTHON, busy, "90"):
        time.sleep(3)  # the idle ones' start-up is a small part of their life by now
        process = agent.start("-c", "-d", "3")
        try:
            wait_for(lambda: len(agent.profiles()) >= 5, 90, "five cycles")
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    cycles = [tuple(map(int, match)) for match in _CYCLE.findall(agent.log.read_text())]
    assert len(cycles) >= 4, agent.log.read_text()[-3000:]
    for chosen, idle, over_cap in cycles:
        assert chosen <= 5, cycles  # the busy one, and whatever else happens to run on the machine
        assert idle >= IDLE_PROCESSES, cycles
        assert over_cap == 0, cycles
    # From the second cycle on: the first one starts while the 100 idle interpreters are still
    # settling, and the busy one was judged by its first seconds only.
    for path in agent.profiles()[1:5]:
        assert any(frame.startswith("gp_leaf") for frame in _python_frames(path, busy)), (
            path.name,
            agent.log.read_text()[-3000:],
        )


def _python_frames(path: Path, script: Path) -> set[str]:
    stacks = parse_profile(path).of_app(str(script))
    return {frame for stack in stacks for frame in stack if frame.endswith("_[p]")}


def test_under_a_cap_the_busiest_python_process_is_the_one_profiled(
    agent: AgentFiles, tmp_path: Path
) -> None:
    busy = tmp_path / "gp_busiest.py"
    shutil.copy(TARGETS / "busy.py", busy)
    light = tmp_path / "gp_light.py"  # about a fifth of a core
    light.write_text(
        "import time\n"
        "while True:\n"
        "    end = time.monotonic() + 0.02\n"
        "    while time.monotonic() < end:\n"
        "        pass\n"
        "    time.sleep(0.08)\n"
    )
    with (
        idle_pythons(tmp_path / "gp_idle_capped.py", 10),
        running(PYTHON, busy, "60"),
        running(PYTHON, light),
    ):
        time.sleep(2)
        result = agent.run("-d", "3", "--python-max-processes", "1", timeout=90)
    assert result.returncode == 0, result.stderr
    last = agent.output / "last_profile.col"
    assert any(frame.startswith("gp_leaf") for frame in _python_frames(last, busy))
    assert _python_frames(last, light) == set()  # perf's native stacks only
    ((chosen, idle, over_cap),) = [tuple(map(int, match)) for match in _CYCLE.findall(agent.log.read_text())]
    # the light one at least was over the cap (other Python processes on the machine may be too)
    assert chosen == 1 and over_cap >= 1 and idle >= 10
