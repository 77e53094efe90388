"""Upload: the spool, the sink's ordering and retries, the client's errors, `upload-file`.

The server is tests/recording_server.py on loopback: real HTTP, real gzip, real JSON.
"""

import gzip
import json
import logging
import string
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from random import Random

import pytest

from gprofiler import __version__
from gprofiler.commands.upload_file import upload_file_main
from gprofiler.config import ServerConfig
from gprofiler.profile import CycleProfile, profile_from_collapsed
from gprofiler.sinks.spool import Spool, encode_document
from gprofiler.sinks.studio_client import StudioClient, UploadError, UploadRejectedError, retry_after_seconds
from gprofiler.sinks.upload import Backoff, UploadSetupError, UploadSink, connect
from gprofiler.sinks.upload_limits import DROPPED_PROCESS, MAX_BODY_BYTES, MAX_STACK_LINES, fit_for_upload
from gprofiler.stacks.tool_output import split_count
from gprofiler_studio.ingest import parse_collapsed
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
    return profile_from_collapsed(
        (fixtures / "profiles" / "cycle.col").read_text(),
        start_time=start,
        end_time=start + timedelta(seconds=60),
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
    assert "dropped 0 set-aside and 1 waiting profile(s)" in caplog.text
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


def test_a_profile_refused_for_good_is_set_aside_and_the_queue_goes_on(
    server: RecordingServer, tmp_path: Path, fixtures: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 413 for the oldest profile once held every newer one back until the spool cap dropped them."""
    refused_start = START.isoformat()
    server.refuse = lambda body: (413, "too large", {}) if body["start_time"] == refused_start else None
    spool = Spool(tmp_path / "spool", 10**9)
    with caplog.at_level(logging.ERROR, logger="gprofiler.sinks.upload"):
        sink = UploadSink(_client(server), spool, "spawn", backoff=Backoff(0.01, 60))
        for minute in range(3):
            sink.write(_profile(fixtures, minute))
        _wait(lambda: len(server.profiles) == 2)
        sink.close()
    assert server.start_times() == [(START + timedelta(minutes=m)).isoformat() for m in (1, 2)]
    assert len(server.refused) == 1 and sink.refused == 1  # sent once, never again
    assert [path.name for path in (tmp_path / "spool").iterdir()] == ["000000000001.json.gz.refused-413"]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "HTTP 413" in messages[0] and "refused-413" in messages[0]
    reopened = Spool(tmp_path / "spool", 10**9)
    assert reopened.oldest() is None  # a restart does not send it again either


def test_set_aside_profiles_go_first_when_the_spool_is_over_its_cap(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10**9)
    for number in range(3):
        spool.put({"start_time": f"t{number}", "profile": "x" * 100})
    first = spool.oldest()
    assert first is not None
    spool.set_aside(first, "refused-422")
    size = sum(path.stat().st_size for path in (tmp_path / "spool").iterdir())
    capped = Spool(tmp_path / "spool", max_bytes=size)  # the next put is one entry too many
    capped.put({"start_time": "t3", "profile": "x" * 100})
    assert sorted(path.name for path in (tmp_path / "spool").iterdir()) == [
        "000000000002.json.gz",
        "000000000003.json.gz",
        "000000000004.json.gz",
    ]


def test_a_token_refused_keeps_every_profile(server: RecordingServer, tmp_path: Path, fixtures: Path) -> None:
    server.refuse = lambda body: (403, "this token does not upload for the service", {})
    spool = Spool(tmp_path / "spool", 10**9)
    sink = UploadSink(_client(server), spool, "spawn", backoff=Backoff(0.01, 60))
    for minute in range(3):
        sink.write(_profile(fixtures, minute))
    _wait(lambda: len(server.refused) >= 1)
    time.sleep(0.3)
    sink.close()
    assert len(spool) == 3 and sink.refused == 0
    assert not list((tmp_path / "spool").glob("*.refused-*"))


def test_too_many_requests_waits_for_retry_after(
    server: RecordingServer, tmp_path: Path, fixtures: Path
) -> None:
    answers = iter([(429, "ingest budget spent", {"Retry-After": "1"})])
    server.refuse = lambda body: next(answers, None)
    sink = UploadSink(_client(server), Spool(tmp_path / "spool", 10**9), "spawn", backoff=Backoff(0.01, 0.02))
    started = time.monotonic()
    sink.write(_profile(fixtures, 0))
    _wait(lambda: len(server.profiles) == 1, timeout=10)
    waited = time.monotonic() - started
    sink.close()
    assert len(server.refused) == 1
    assert waited >= 0.9  # not the 0.01 s backoff: the server's word


def test_retry_after_header_forms() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("Tue, 01 Dec 2026 12:00:30 GMT", now) == 30
    assert retry_after_seconds("Tue, 01 Dec 2026 11:00:00 GMT", now) == 0
    assert retry_after_seconds("²", now) is None and retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def _profile_text(lines: Iterable[str]) -> str:
    return "# {}\n" + "".join(f"{line}\n" for line in lines)


def test_a_profile_over_the_line_limit_is_trimmed_of_its_least_sampled_stacks() -> None:
    many = [f"0;;p;f{index} {1 + (index % 1000 == 0) * 50}" for index in range(MAX_STACK_LINES + 10_000)]
    document, data, dropped = fit_for_upload(
        {"start_time": "t", "profile": _profile_text(many)}, encode_document
    )
    assert dropped is not None
    lines = document["profile"].split("\n")[1:-1]
    assert len(lines) <= MAX_STACK_LINES
    counts = [split_count(line) for line in lines]
    assert sum(count for _, count in filter(None, counts)) == sum(
        1 + (i % 1000 == 0) * 50 for i in range(len(many))
    )
    assert all(f"0;;p;f{index} 51" in lines for index in range(0, len(many), 1000))  # the heavy ones stay
    assert lines[-1].startswith(f"0;;{DROPPED_PROCESS};[{dropped[0]} stacks") and lines[-1].endswith(
        f" {dropped[1]}"
    )
    assert json.loads(gzip.decompress(data)) == document
    parse_collapsed(document["profile"])  # studio takes it


def test_a_profile_over_the_body_limit_is_trimmed_until_it_fits() -> None:
    random = Random(7)
    alphabet = string.ascii_letters + string.digits + "_"
    names = ("".join(random.choices(alphabet, k=120)) for _ in range(60_000))  # barely compressible
    lines = [f"0;;p;{name} {index % 5 + 1}" for index, name in enumerate(names)]
    original = {"start_time": "t", "profile": _profile_text(lines)}
    assert len(encode_document(original)) > MAX_BODY_BYTES
    document, data, dropped = fit_for_upload(original, encode_document)
    assert dropped is not None and len(data) <= MAX_BODY_BYTES
    assert len(data) > 0.6 * MAX_BODY_BYTES  # trimmed to the limit, not far below it
    kept = [split_count(line) for line in document["profile"].split("\n")[1:-1]]
    assert sum(count for _, count in filter(None, kept)) == sum(index % 5 + 1 for index in range(len(lines)))
    small = {"start_time": "t", "profile": _profile_text(lines[:10])}
    assert fit_for_upload(small, encode_document)[2] is None  # what fits is untouched


def test_the_sender_survives_an_unexpected_error(
    server: RecordingServer, tmp_path: Path, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "spool", 10**9)
    real_oldest, failures = spool.oldest, [RuntimeError("the disk went read-only")]

    def oldest_once_broken() -> object:
        if failures:
            raise failures.pop()
        return real_oldest()

    monkeypatch.setattr(spool, "oldest", oldest_once_broken)
    sink = UploadSink(_client(server), spool, "spawn", backoff=Backoff(0.01, 0.05))
    sink.write(_profile(fixtures, 0))
    _wait(lambda: len(server.profiles) == 1)  # the thread did not die with the error
    sink.close()
