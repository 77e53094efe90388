"""Continuous mode, stopping, crashing, and the preconditions, with the real agent and perf."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.conftest import (
    AgentFiles,
    children_of,
    is_gone,
    parse_profile,
    processes_mentioning,
    running,
    wait_for,
)


def _perf_children(agent_pid: int) -> list[int]:
    return [pid for pid, comm in children_of(agent_pid) if comm.startswith("perf")]


def test_continuous_cycles_and_clean_sigterm(agent: AgentFiles, busy_fp: Path) -> None:
    with running(busy_fp, "60"):
        process = agent.start("-c", "-d", "2", "-f", "49")
        wait_for(lambda: len(agent.profiles()) >= 2, 20, "two cycles")
        perf_pids = _perf_children(process.pid)
        assert perf_pids, "perf is not a child of the agent"
        time.sleep(0.7)  # now in the middle of the third cycle
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        elapsed = time.monotonic() - stopped_at
    assert process.returncode == 0, stderr
    assert elapsed < 5, elapsed
    assert all(is_gone(pid) for pid in perf_pids)
    assert processes_mentioning(str(agent.tmpdir)) == []
    assert list(agent.tmpdir.iterdir()) == []  # work directory removed
    assert not agent.pid_file.exists()
    profiles = agent.profiles()
    assert len(profiles) >= 2
    assert os.readlink(agent.output / "last_profile.col") == profiles[-1].name
    assert os.readlink(agent.output / "last_flamegraph.html") == profiles[-1].with_suffix(".html").name
    for path in profiles:
        assert parse_profile(path).of_process("gp_busy_fp")
    assert "cycle 2:" in agent.log.read_text()
    # consecutive cycles are contiguous: no sampling gap between them
    first, second = (parse_profile(p).header for p in profiles[:2])
    assert first["end_time"] == second["start_time"]


def test_rotating_output_keeps_only_the_latest_pair(agent: AgentFiles) -> None:
    process = agent.start("-c", "-d", "1", "--rotating-output")
    wait_for(lambda: "cycle 3:" in (agent.log.read_text() if agent.log.exists() else ""), 20, "three cycles")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=10)
    assert process.returncode == 0
    names = sorted(p.name for p in agent.output.iterdir())
    assert len(names) == 4, names
    assert [n for n in names if n.startswith("last_")] == ["last_flamegraph.html", "last_profile.col"]
    assert (agent.output / "last_profile.col").resolve().exists()


def test_sigkilled_agent_takes_perf_with_it_and_leftovers_are_cleaned(agent: AgentFiles) -> None:
    process = agent.start("-c", "-d", "30")
    wait_for(lambda: bool(_perf_children(process.pid)), 20, "perf to start")
    perf_pids = _perf_children(process.pid)
    process.kill()
    process.communicate(timeout=10)
    wait_for(lambda: all(is_gone(pid) for pid in perf_pids), 5, "perf to die with its parent")
    leftovers = list(agent.tmpdir.iterdir())
    assert leftovers  # SIGKILL gives no chance to clean up ...
    result = agent.run("-d", "1")
    assert result.returncode == 0, result.stderr
    assert list(agent.tmpdir.iterdir()) == []  # ... so the next agent does
    assert "removed 1 work directories left by earlier agents" in result.stderr


def test_only_one_agent_per_machine(agent: AgentFiles, tmp_path: Path) -> None:
    first = agent.start("-c", "-d", "30")
    try:
        wait_for(agent.pid_file.exists, 20, "the first agent to start")
        second = AgentFiles(tmp_path / "second").run("-d", "1")
        assert second.returncode == 1
        assert "another gprofiler is already running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=10)
    assert first.returncode == 0


def test_missing_perf_says_how_to_install_it(agent: AgentFiles, tmp_path: Path) -> None:
    result = agent.run("-d", "1", PATH=str(tmp_path))
    assert result.returncode == 1
    assert "perf was not found" in result.stderr
    assert "apt-get install linux-perf" in result.stderr


def test_must_be_root(tmp_path: Path) -> None:
    # Import as root, then drop to nobody: works wherever the checkout lives (even under /root).
    code = (
        "import os, sys, gprofiler.cli, gprofiler.agent\n"
        "os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)\n"
        f"sys.exit(gprofiler.cli.main(['-o', {str(tmp_path / 'out')!r}, '-d', '1', '--log-file', '']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "must run as root" in result.stderr


def test_output_directory_must_be_writable(agent: AgentFiles) -> None:
    agent.base.mkdir(exist_ok=True)
    agent.output.write_text("a file, not a directory")
    result = agent.run("-d", "1")
    assert result.returncode == 1
    assert "is not writable" in result.stderr


def test_unknown_pid_is_refused(agent: AgentFiles) -> None:
    result = agent.run("-d", "1", "--pids", "999999999")
    assert result.returncode == 1
    assert "no such process: 999999999" in result.stderr


def test_pids_that_all_exit_end_continuous_mode(agent: AgentFiles, busy_fp: Path) -> None:
    with running(busy_fp, "2.5") as target:
        result = agent.run("-c", "-d", "2", "-f", "49", "--pids", str(target.pid), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "every process given with --pids has exited" in result.stderr
    assert parse_profile(agent.profiles()[0]).of_process("gp_busy_fp")


def test_python_module_entry_point_and_version() -> None:
    result = subprocess.run([sys.executable, "-m", "gprofiler", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip()


def test_sigterm_while_starting_exits_cleanly(agent: AgentFiles) -> None:
    for delay in (0.05, 0.4, 0.8):
        process = agent.start("-c", "-d", "5")
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        # In the first ~0.1 s Python is still importing and has no handler yet: SIGTERM kills it
        # before it has created anything. After that, the agent itself must exit with 0.
        expected = (0, -signal.SIGTERM) if delay < 0.1 else (0,)
        assert process.returncode in expected, stderr
        assert list(agent.tmpdir.iterdir()) == []
        assert processes_mentioning(str(agent.tmpdir)) == []  # no perf left recording into it
