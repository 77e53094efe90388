"""The agent uploading real cycles to a server on loopback (tests/recording_server.py).

Every run also writes the same cycles locally (-o), so what arrived can be compared, profile by
profile, with what the agent produced: nothing lost, nothing twice, in order.
"""

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import AgentFiles, parse_profile, running, wait_for
from tests.recording_server import RecordingServer


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    recording = RecordingServer().start()
    yield recording
    recording.stop()


def _upload_args(server: RecordingServer, agent: AgentFiles) -> list[str]:
    return [
        "-u",
        "--token",
        "t0ken",
        "--service-name",
        "checkout",
        "--server-host",
        server.url,
        "--spool-dir",
        str(agent.base / "spool"),
    ]


def _local_profiles(agent: AgentFiles) -> list[str]:
    return [path.read_text() for path in agent.profiles()]


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stderr


def _cycles(agent: AgentFiles) -> int:
    return len(agent.profiles())


def test_continuous_cycles_arrive_exactly_as_written(
    agent: AgentFiles, server: RecordingServer, busy_fp: Path
) -> None:
    with running(busy_fp, "60"):
        process = agent.start("-c", "-d", "2", *_upload_args(server, agent))
        try:
            wait_for(lambda: len(server.profiles) >= 3, 60, "three uploaded cycles")
        finally:
            _stop(process)
    uploaded = [received.body["profile"] for received in server.profiles]
    assert uploaded == _local_profiles(agent)[: len(uploaded)]
    assert server.health_checks == 1
    for received in server.profiles:
        assert received.query["service"] == "checkout" and received.body["hostname"]
    first = agent.profiles()[0]
    busy = parse_profile(first).of_process(busy_fp.name)
    assert sum(busy.values()) > 0.5 * 2 * 11
    assert "t0ken" not in first.read_text()  # the token never lands in a profile
    assert server.logs, "the agent's log was not sent"


def test_cycles_while_the_server_is_down_arrive_in_order_once(
    agent: AgentFiles, server: RecordingServer, busy_fp: Path
) -> None:
    with running(busy_fp, "90"):
        process = agent.start("-c", "-d", "2", *_upload_args(server, agent))
        try:
            wait_for(lambda: len(server.profiles) >= 1, 60, "a first upload")
            server.stop()
            down_from = _cycles(agent)
            wait_for(lambda: _cycles(agent) >= down_from + 2, 60, "two cycles with the server down")
            server.start()
            wait_for(lambda: len(server.profiles) >= _cycles(agent) >= down_from + 3, 90, "catching up")
        finally:
            _stop(process)
    uploaded = [received.body["profile"] for received in server.profiles]
    assert uploaded == _local_profiles(agent)[: len(uploaded)]
    assert len(set(uploaded)) == len(uploaded)


def test_spooled_cycles_survive_an_agent_restart(agent: AgentFiles, server: RecordingServer) -> None:
    process = agent.start("-c", "-d", "2", *_upload_args(server, agent))
    try:
        wait_for(lambda: len(server.profiles) >= 1, 60, "a first upload")
        server.stop()
        wait_for(lambda: len(list((agent.base / "spool").glob("*.json.gz"))) >= 2, 60, "two spooled cycles")
    finally:
        stderr = _stop(process)
    assert "wait in" in stderr  # the agent says what it leaves behind
    first_run = _local_profiles(agent)
    server.start()
    process = agent.start("-c", "-d", "2", *_upload_args(server, agent))
    try:
        wait_for(lambda: len(server.profiles) >= len(first_run) + 1, 60, "the spool and a new cycle")
    finally:
        _stop(process)
    uploaded = [received.body["profile"] for received in server.profiles]
    assert uploaded[: len(first_run)] == first_run
    assert uploaded == _local_profiles(agent)[: len(uploaded)]


def test_unreachable_server_stops_the_agent_with_a_clear_error(
    agent: AgentFiles, server: RecordingServer
) -> None:
    server.stop()
    result = agent.run("-d", "2", *_upload_args(server, agent), timeout=60)
    assert result.returncode == 1
    assert f"health check failed at {server.url} (no proxy in use)" in result.stderr


def test_full_disk_under_the_spool_loses_nothing(agent: AgentFiles, server: RecordingServer) -> None:
    spool = agent.base / "spool"
    spool.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(spool)], check=True)
    try:
        with contextlib.suppress(OSError), (spool / "filler").open("wb") as filler:
            filler.write(b"\0" * 8192)  # the disk is full before the agent starts
        process = agent.start("-c", "-d", "2", "--no-flamegraph", *_upload_args(server, agent))
        try:
            wait_for(lambda: len(server.profiles) >= 2, 60, "two uploads")
        finally:
            stderr = _stop(process)
        assert "No space left on device" in stderr and "keeping it in memory" in stderr
        uploaded = [received.body["profile"] for received in server.profiles]
        assert uploaded == _local_profiles(agent)[: len(uploaded)]
        assert [path.name for path in spool.iterdir()] == ["filler"]  # nothing half-written
    finally:
        subprocess.run(["umount", str(spool)], check=True)
