"""Upload: the spool, the sink's ordering and retries, the client's errors, `upload-file`.

The server is tests/recording_server.py on loopback: real HTTP, real gzip, real JSON.
"""

import gzip
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gprofiler import __version__
from gprofiler.commands.upload_file import upload_file_main
from gprofiler.config import ServerConfig
from gprofiler.sinks.base import CycleProfile
from gprofiler.sinks.spool import Spool
from gprofiler.sinks.studio_client import StudioClient, UploadError, UploadRejectedError
from gprofiler.sinks.upload import Backoff, UploadSetupError, UploadSink, connect
from tests.recording_server import RecordingServer

START = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    recording = RecordingServer().start()
    yield recording
    recording.stop()


def _client(server: RecordingServer, token: str = "secret") -> StudioClient:
    return StudioClient(ServerConfig(server.url, token, "checkout", 5, True), "host-1")


def _profile(fixtures: Path, minute: int) -> CycleProfile:
    start = START + timedelta(minutes=minute)
    return CycleProfile(
        start_time=start,
        end_time=start + timedelta(seconds=60),
        collapsed=(fixtures / "profiles" / "cycle.col").read_text(),
        samples=70,
        hostname="host-1",
        metrics={"cpu_avg": 12.5, "mem_avg": 40.0},
    )


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_spool_keeps_order_across_reopening_and_caps_its_size(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=10**9)
    for number in range(3):
        spool.put({"start_time": f"t{number}", "profile": "x" * 100})
    assert (tmp_path / "spool").stat().st_mode & 0o777 == 0o700
    reopened = Spool(tmp_path / "spool", max_bytes=10**9)
    first = reopened.oldest()
    assert first is not None and first.document["start_time"] == "t0"
    reopened.remove(first)
    reopened.put({"start_time": "t3"})
    assert [entry.name for entry in sorted((tmp_path / "spool").iterdir())] == [
        "000000000002.json.gz",
        "000000000003.json.gz",
        "000000000004.json.gz",
    ]
    sizes = sum(path.stat().st_size for path in (tmp_path / "spool").iterdir())
    newest = (tmp_path / "spool" / "000000000004.json.gz").stat().st_size
    capped = Spool(tmp_path / "spool", max_bytes=sizes + newest - 1)  # one entry too many after the next put
    with caplog.at_level(logging.WARNING):
        capped.put({"start_time": "t5"})
    assert "dropped the 1 oldest" in caplog.text
    oldest = capped.oldest()
    assert oldest is not None and oldest.document["start_time"] == "t2"


def test_spool_sets_unreadable_entries_aside_and_forgets_interrupted_writes(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    (directory / "000000000001.json.gz").write_bytes(b"not gzip")
    (directory / "000000000002.json.gz").write_bytes(gzip.compress(b'{"start_time": "ok"}'))
    (directory / ".incoming-3").write_bytes(b"half")
    spool = Spool(directory, max_bytes=10**9)
    entry = spool.oldest()
    assert entry is not None and entry.document == {"start_time": "ok"}
    assert (directory / "000000000001.json.gz.bad").exists()
    assert not (directory / ".incoming-3").exists()


def test_profiles_arrive_in_order_with_the_protocols_fields(
    server: RecordingServer, tmp_path: Path, fixtures: Path
) -> None:
    sink = UploadSink(_client(server), Spool(tmp_path / "spool", 10**9), "2026-11-26T07:59:00+00:00")
    for minute in range(3):
        sink.write(_profile(fixtures, minute))
    _wait(lambda: len(server.profiles) == 3)
    sink.close()
    assert server.start_times() == [(START + timedelta(minutes=m)).isoformat() for m in range(3)]
    first, second, _ = server.profiles
    assert first.path == "/api/v2/profiles"
    assert first.query["version"] == __version__
    assert {first.query[key] for key in ("key", "service", "hostname")} == {"secret", "checkout", "host-1"}
    assert datetime.fromisoformat(first.query["timestamp"]).tzinfo is not None
    assert first.headers["gprofiler-api-key"] == "secret"
    assert first.headers["gprofiler-service-name"] == "checkout"
    assert first.headers["content-encoding"] == "gzip"
    assert first.body["profile"] == (fixtures / "profiles" / "cycle.col").read_text()
    assert first.body["cpu_avg"] == 12.5 and first.body["mem_avg"] == 40.0
    assert first.body["spawn_time"] == "2026-11-26T07:59:00+00:00"
    assert first.body["end_time"] == (START + timedelta(seconds=60)).isoformat()
    assert (first.body["gpid"], second.body["gpid"]) == ("", "gpid-1")  # the server's gpid is sent back
    assert list((tmp_path / "spool").iterdir()) == []


def test_nothing_is_lost_while_the_server_is_down_nor_sent_twice(
    server: RecordingServer, tmp_path: Path, fixtures: Path
) -> None:
    server.stop()
    spool = Spool(tmp_path / "spool", 10**9)
    sink = UploadSink(_client(server), spool, "spawn", backoff=Backoff(initial=0.05, ceiling=0.2))
    for minute in range(3):
        sink.write(_profile(fixtures, minute))
    time.sleep(0.5)
    assert len(spool) == 3
    server.mode = "error"  # up, but failing: 5xx is retried as well
    server.start()
    time.sleep(0.5)
    server.mode = "ok"
    sink.write(_profile(fixtures, 3))
    _wait(lambda: len(server.profiles) == 4)
    sink.close()
    assert server.start_times() == [(START + timedelta(minutes=m)).isoformat() for m in range(4)]
    assert len(spool) == 0


def test_spooled_profiles_survive_an_agent_restart(
    server: RecordingServer, tmp_path: Path, fixtures: Path
) -> None:
    server.stop()
    first_run = UploadSink(
        _client(server), Spool(tmp_path / "spool", 10**9), "spawn", backoff=Backoff(0.05, 0.1)
    )
    first_run.write(_profile(fixtures, 0))
    first_run.write(_profile(fixtures, 1))
    first_run.close()
    server.start()
    second_run = UploadSink(_client(server), Spool(tmp_path / "spool", 10**9), "spawn")
    second_run.write(_profile(fixtures, 2))
    _wait(lambda: len(server.profiles) == 3)
    second_run.close()
    assert server.start_times() == [(START + timedelta(minutes=m)).isoformat() for m in range(3)]


def test_rejected_profile_is_logged_once_kept_and_not_retried_in_a_loop(
    server: RecordingServer, tmp_path: Path, fixtures: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.mode = "reject"
    spool = Spool(tmp_path / "spool", 10**9)
    with caplog.at_level(logging.ERROR, logger="gprofiler.sinks.upload"):
        sink = UploadSink(_client(server), spool, "spawn", backoff=Backoff(0.01, 60))
        sink.write(_profile(fixtures, 0))
        time.sleep(0.5)
        rejections = [record for record in caplog.records if "HTTP 401" in record.getMessage()]
        assert len(rejections) == 1 and "bad token" in rejections[0].getMessage()
        assert len(spool) == 1  # kept
        server.mode = "ok"
        sink.write(_profile(fixtures, 1))  # the next cycle: retried then
        _wait(lambda: len(server.profiles) == 2)
        sink.close()
    assert server.start_times()[0] == START.isoformat()


def test_answers_that_are_not_json_are_retried(
    server: RecordingServer, tmp_path: Path, fixtures: Path
) -> None:
    server.mode = "garbage"
    sink = UploadSink(_client(server), Spool(tmp_path / "spool", 10**9), "spawn", backoff=Backoff(0.05, 0.1))
    sink.write(_profile(fixtures, 0))
    time.sleep(0.3)
    assert server.profiles == []
    server.mode = "ok"
    _wait(lambda: len(server.profiles) == 1)
    sink.close()


def test_client_errors_say_what_happened(server: RecordingServer) -> None:
    server.mode = "reject"
    with pytest.raises(UploadRejectedError, match=r"HTTP 401.*bad token"):
        _client(server).submit_profile({"start_time": "x"})
    server.mode = "garbage"
    with pytest.raises(UploadError, match="not JSON"):
        _client(server).submit_profile({"start_time": "x"})


def test_health_check_failure_names_the_proxy_in_use(
    server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert connect(_client(server)) is not None and server.health_checks == 1
    server.stop()
    with pytest.raises(UploadSetupError, match=r"no proxy in use"):
        connect(_client(server))
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(UploadSetupError, match=r"through the proxy http://127.0.0.1:9"):
        connect(StudioClient(ServerConfig("http://studio.example:8080", "t", "s", 5, True), "h"))


def test_upload_file_sends_a_saved_profile_with_its_own_times(
    server: RecordingServer, fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = fixtures / "profiles" / "cycle.col"
    code = upload_file_main(
        ["--file-path", str(path), "--token", "t", "--service-name", "svc", "--server-host", server.url]
    )
    assert code == 0, capsys.readouterr().err
    (received,) = server.profiles
    header = json.loads(path.read_text().split("\n", 1)[0][1:])
    assert received.body["start_time"] == header["start_time"]
    assert received.body["end_time"] == header["end_time"]
    assert received.body["hostname"] == header["metadata"]["hostname"]
    assert received.body["profile"] == path.read_text()
    assert "uploaded" in capsys.readouterr().out


def test_upload_file_rejects_what_is_not_a_profile(server: RecordingServer, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello\n")
    args = ["--file-path", str(bogus), "--token", "t", "--service-name", "svc", "--server-host", server.url]
    assert upload_file_main(args) == 1
    assert server.profiles == []
    with pytest.raises(SystemExit) as exited:
        upload_file_main(["--file-path", str(bogus), "--service-name", "svc"])  # no token
    assert exited.value.code == 2
